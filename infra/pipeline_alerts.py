"""The project's alerts: an SNS topic (KMS-encrypted) and the rule that announces failed runs.

EventBridge (failed, timed-out or aborted pipeline executions) and CloudWatch (the endpoint's
alarms, infra/endpoint.py) publish to the topic; the key policy lets both services use the
project key for it, from this account only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

PUBLISHING_SERVICES = ("events.amazonaws.com", "cloudwatch.amazonaws.com")


@dataclass(frozen=True)
class AlertsTopicProps:
    resource_prefix: str
    notification_email: Optional[str] = None  # subscribed (it must confirm) when given


class AlertsTopic(sns.Topic):
    def __init__(self, scope: Construct, construct_id: str, *, props: AlertsTopicProps, key: kms.IKey) -> None:
        super().__init__(
            scope,
            construct_id,
            display_name=f"{props.resource_prefix} pipeline and endpoint alerts",
            master_key=key,
            enforce_ssl=True,
        )
        for service in PUBLISHING_SERVICES:
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"Allow{service.split('.')[0].capitalize()}ToPublishToEncryptedTopic",
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],  # in a key policy, "*" is this key
                    conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
                )
            )
        if props.notification_email:
            self.add_subscription(subscriptions.EmailSubscription(props.notification_email))


class FailedExecutionsRule(events.Rule):
    """Announces on ``topic`` every execution of ``state_machine`` that failed, timed out or was aborted."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        resource_prefix: str,
        state_machine: sfn.IStateMachine,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"{resource_prefix}: pipeline executions that failed, timed out or were aborted",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": ["FAILED", "TIMED_OUT", "ABORTED"],
                    "stateMachineArn": [state_machine.state_machine_arn],
                },
            ),
        )
        field = events.EventField.from_path
        self.add_target(
            targets.SnsTopic(
                topic,
                message=events.RuleTargetInput.from_text(
                    f"{resource_prefix} pipeline execution {field('$.detail.name')} "
                    f"ended {field('$.detail.status')}: {field('$.detail.cause')} ({field('$.detail.executionArn')})"
                ),
            )
        )
