#!/usr/bin/env python3
"""CDK app of the headlines project: see infra/application.py and docs/aws.md.

    npx cdk synth                                   # pipeline stack (offline)
    npx cdk deploy HeadlinesPipeline
    headlines pipeline start --wait
    npx cdk deploy HeadlinesServing -c headlines:model_data_url=approved
"""
import aws_cdk as cdk

from infra.application import build

app = cdk.App()
build(app)
app.synth()
