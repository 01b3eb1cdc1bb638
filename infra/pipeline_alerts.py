"""The project's alerts: an SNS topic (KMS-encrypted) and the rule that announces failed runs.

EventBridge (failed, timed-out or aborted pipeline executions) and CloudWatch (the endpoint's
alarms, infra/endpoint.py) publish to the topic: its policy admits both services, and the key
policy lets both use the project key for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

#: The service that publishes the endpoint's alarms (infra/endpoint.py). A topic policy replaces
#: SNS's default one (which let the account's principals publish), and CDK's SnsTopic target adds
#: only EventBridge's statement, so CloudWatch needs its own statement, or alarm e-mails never
#: arrive. SNS docs, "Amazon SNS access control: example cases" (CloudWatch alarms).
CLOUDWATCH = "cloudwatch.amazonaws.com"


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
        stack = Stack.of(self)
        same_account = {"aws:SourceAccount": stack.account}
        alarms = stack.format_arn(service="cloudwatch", resource="alarm", resource_name="*",
                                  arn_format=ArnFormat.COLON_RESOURCE_NAME)
        self.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[self.topic_arn],
                conditions={"StringEquals": same_account, "ArnLike": {"aws:SourceArn": alarms}},
            )
        )
        # The topic is encrypted: a publisher also needs the key (SNS docs, "Enable
        # compatibility between event sources from AWS services and encrypted topics").
        # EventBridge's key statement comes with CDK's SnsTopic target (FailedExecutionsRule).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToEncryptedTopic",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": same_account},
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
