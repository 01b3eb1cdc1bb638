"""The drift watch: an EventBridge rate schedule runs ``functions/api/drift_handler.py``, which
asks Athena for the live category mix and low-confidence share of the last hours, compares it
with the served model's training mix (its artifact's metrics.json) and publishes metrics; alarms
on them notify the alert topic. Thresholds: cdk.json ``headlines.results.drift``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra import nag
from infra.feeds import schedule_expression
from infra.functions import PythonFunction, PythonFunctionProps
from infra.results_store import athena_reader_statements
from infra.retention import Retention
from infra.storage import MODELS_PREFIX

#: The drift check's metrics (functions/api/drift_handler.py DRIFT_METRICS), with dimension service.
DISTANCE, LOW_SHARE, RECORDS, FAILED = "DriftCategoryDistance", "DriftLowConfidenceShare", "DriftRecords", "DriftCheckFailed"


@dataclass(frozen=True)
class DriftWatchProps:
    resource_prefix: str
    service_name: str
    metrics_namespace: str
    database_name: str
    table_name: str
    workgroup_name: str
    interval_minutes: int
    window_hours: int
    min_records: int
    low_confidence: float
    max_category_distance: float
    max_low_confidence_share: float
    retention: Retention = Retention()


@dataclass(frozen=True)
class ResultsLocation:
    """The results store as the serving stack sees it (imported names)."""

    bucket: s3.IBucket
    key: kms.IKey


class DriftWatch(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, props: DriftWatchProps, results: ResultsLocation,
                 artifacts: s3.IBucket, model_data_url: str, alarm_topic: Optional[sns.ITopic]) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.props = props
        self.function = PythonFunction(
            self, "Function",
            props=PythonFunctionProps(
                folder="api",
                handler="drift_handler.handler",
                description=f"{props.resource_prefix}: live category mix and low-confidence share against the training data",
                environment={
                    "MODEL_DATA_URL": model_data_url,
                    "RESULTS_DATABASE": props.database_name,
                    "RESULTS_WORKGROUP": props.workgroup_name,
                    "DRIFT_WINDOW_HOURS": str(props.window_hours),
                    "DRIFT_MIN_RECORDS": str(props.min_records),
                    "DRIFT_LOW_CONFIDENCE": str(props.low_confidence),
                    "POWERTOOLS_SERVICE_NAME": props.service_name,
                    "POWERTOOLS_METRICS_NAMESPACE": props.metrics_namespace,
                },
                timeout=Duration.minutes(5),
                memory_mb=512,
                retention=props.retention,
            ),
        )
        role = self.function.role
        for statement in athena_reader_statements(stack, database=props.database_name, table=props.table_name,
                                                  workgroup=props.workgroup_name, bucket=results.bucket):
            role.add_to_principal_policy(statement)
        # The baseline: metrics.json inside the served model's artifact.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[artifacts.arn_for_objects(MODELS_PREFIX + "*")]))
        role.add_to_principal_policy(iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[results.key.key_arn]))
        nag.allow_wildcards(
            self.function,
            (r"Resource::arn:[^:]+:s3:::[^/]+/(records|athena|models)/\*",
             "Athena reads the records and writes its results under fixed prefixes; the model's artifact under models/"),
            (r"Resource::<.*>/(records|athena|models)/\*",
             "Athena reads the records and writes its results under fixed prefixes; the model's artifact under models/"),
        )
        self.rule = events.Rule(
            self, "Schedule",
            description=f"{props.resource_prefix}: drift check every {props.interval_minutes} minute(s)",
            schedule=events.Schedule.expression(schedule_expression(props.interval_minutes)),
            targets=[targets.LambdaFunction(self.function.function, retry_attempts=0)],
        )
        self.alarms = self._alarms(alarm_topic)

    def metric(self, name: str, statistic: str = "Maximum") -> cloudwatch.Metric:
        return cloudwatch.Metric(namespace=self.props.metrics_namespace, metric_name=name,
                                 dimensions_map={"service": self.props.service_name}, statistic=statistic,
                                 period=Duration.minutes(self.props.interval_minutes))

    def _alarms(self, topic: Optional[sns.ITopic]) -> Dict[str, cloudwatch.Alarm]:
        props = self.props
        specs = {
            "CategoryDrift": (DISTANCE, props.max_category_distance,
                              f"the live category mix is more than {props.max_category_distance:g} (total variation) from the training data's"),
            "LowConfidence": (LOW_SHARE, props.max_low_confidence_share,
                              f"more than {props.max_low_confidence_share:.0%} of the answers had a confidence below {props.low_confidence:g}"),
            "CheckFailing": (FAILED, 0, "the drift check could not run (Athena, the artifact or the table)"),
        }
        alarms = {}
        for name, (metric, threshold, description) in specs.items():
            alarm = cloudwatch.Alarm(
                self, name,
                alarm_description=f"{props.resource_prefix}: {description}",
                metric=self.metric(metric),
                threshold=threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,  # too few records: no figure, no alarm
            )
            if topic is not None:
                alarm.add_alarm_action(cw_actions.SnsAction(topic))
            alarms[name] = alarm
        return alarms
