"""Developer tools, not installed with the package: the offline deploy rehearsal and the page's
vendored assets. They may import everything (the CDK app included); nothing imports them."""

from pathlib import Path

#: The source checkout these tools run in (the CDK app, node_modules, package.json).
CHECKOUT = Path(__file__).resolve().parents[1]
