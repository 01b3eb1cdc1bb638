"""The scheduled feed reader (``results.feeds``): an EventBridge rate schedule runs
``functions/api/feed_handler.py``, which classifies new feed items through the endpoint and
records them through Firehose; a DynamoDB table remembers the items it took (each one once;
docs/architecture.md, "Feed state in DynamoDB"). Nothing of it exists while the list is empty
(infra/stacks.py)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Tuple

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra import nag
from infra.functions import PythonFunction, PythonFunctionProps
from infra.results_recording import RecordingTarget
from infra.retention import Retention


@dataclass(frozen=True)
class FeedReaderProps:
    resource_prefix: str
    service_name: str  # POWERTOOLS_SERVICE_NAME
    metrics_namespace: str
    feeds: Tuple[str, ...]
    interval_minutes: int
    timeout_seconds: float  # per feed download
    max_bytes: int
    max_items: int
    retention: Retention = Retention()


def schedule_expression(minutes: int) -> str:
    """EventBridge's rate syntax: the unit is singular for 1 ("rate(1 minute)"), plural otherwise."""
    return f"rate({minutes} minute{'' if minutes == 1 else 's'})"


def function_timeout_seconds(props: FeedReaderProps) -> int:
    """Within the schedule's interval (runs do not overlap), and Lambda's 15 minutes."""
    return max(60, min(900, props.interval_minutes * 60 - 10))


class FeedReader(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, props: FeedReaderProps, endpoint_environment: Mapping[str, str],
                 endpoint_arn: str, recording: RecordingTarget) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self, "Seen",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expires",
            removal_policy=props.retention.removal,
        )
        nag.suppress(self.table, ("AwsSolutions-DDB3", "Which feed items were already recorded: losing it records recent "
                                                       "items again at worst; no point-in-time recovery needed."))
        self.function = PythonFunction(
            self, "Function",
            props=PythonFunctionProps(
                folder="api",
                handler="feed_handler.handler",
                description=f"{props.resource_prefix}: classifies new items of {len(props.feeds)} news feed(s) and records them",
                environment={
                    **endpoint_environment,
                    "FEEDS": json.dumps(list(props.feeds), separators=(",", ":")),
                    "FEEDS_TABLE": self.table.table_name,
                    "FEED_TIMEOUT_SECONDS": str(props.timeout_seconds),
                    "FEED_MAX_BYTES": str(props.max_bytes),
                    "FEED_MAX_ITEMS": str(props.max_items),
                    **recording.environment(),
                    "POWERTOOLS_SERVICE_NAME": props.service_name,
                    "POWERTOOLS_METRICS_NAMESPACE": props.metrics_namespace,
                },
                timeout=Duration.seconds(function_timeout_seconds(props)),
                memory_mb=512,
                retention=props.retention,
            ),
        )
        role = self.function.role
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[endpoint_arn]))
        recording.grant(role)
        role.add_to_principal_policy(iam.PolicyStatement(actions=["dynamodb:PutItem", "dynamodb:DeleteItem"],
                                                         resources=[self.table.table_arn]))
        self.rule = events.Rule(
            self, "Schedule",
            description=f"{props.resource_prefix}: read the news feeds every {props.interval_minutes} minute(s)",
            schedule=events.Schedule.expression(schedule_expression(props.interval_minutes)),
            targets=[targets.LambdaFunction(self.function.function, retry_attempts=0)],  # the next run catches up
        )
