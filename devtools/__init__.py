"""Developer tools, not installed with the package: the offline deploy rehearsal and the page's
vendored assets. They may import everything (the CDK app included); nothing imports them."""
