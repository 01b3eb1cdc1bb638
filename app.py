#!/usr/bin/env python3
"""CDK app of the headlines project: see infra/application.py and docs/aws.md.

    npx cdk synth                                   # pipeline stack (offline)
    npx cdk deploy HeadlinesPipeline
    headlines pipeline start --wait
    npx cdk deploy HeadlinesServing -c headlines:model_data_url=approved
"""
import sys

import aws_cdk as cdk

from headlines.config import ConfigError
from infra.application import build

app = cdk.App()
try:
    build(app)
except ConfigError as error:  # a bad setting in cdk.json or -c: one line naming it, no traceback
    sys.exit(f"error: {error}")
app.synth()
