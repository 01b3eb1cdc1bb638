#!/usr/bin/env python3
"""CDK app of the headlines project: see infra/application.py and docs/aws.md.

cdk.json runs it with the project's environment (.venv/bin/python app.py):

    npx cdk list                       # HeadlinesPipeline, HeadlinesServing (offline)
    npx cdk deploy HeadlinesPipeline
    headlines pipeline start --wait
    npx cdk deploy HeadlinesServing    # the approved model, resolved from SSM at deploy time
    npx cdk destroy --all
"""
import os
import sys

# jsii's 12-line banners about the Node.js version (deprecated; end of life for Node 20, which
# still works) are noise on every cdk command; the README names the supported versions.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk

from headlines.config import ConfigError
from infra.application import build

app = cdk.App()
try:
    build(app)
except ConfigError as error:  # a bad setting in cdk.json or -c: one line naming it, no traceback
    sys.exit(f"error: {error}")
app.synth()
