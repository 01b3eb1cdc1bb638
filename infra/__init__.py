"""CDK constructs and stacks of the headlines project, one module per concern.

Importing this package is cheap (``headlines.naming`` has no CDK import), so the command-line
tool can share the stack and output names without loading the CDK.
"""
