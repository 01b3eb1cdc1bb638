"""Pipeline step 4: the quality gate (states only, no resources).

``Read quality metric`` picks the configured metric, and the champion's figure on the same
test rows (``champion_<metric>``, when the job scored one), from the classifier job's
``FinalMetricDataList`` and builds the approval record; the ``Quality gate`` Choice runs the
``approved`` steps (model version, registration, publish) for a model at or above the
threshold and no worse than the champion's by more than the tolerance, and fails the execution
with a clear cause and both figures otherwise (``QualityMetricMissing``, ``QualityGateFailed``,
``WorseThanChampion``). headlines/registry.py's ``Gate`` is the same rule for local training.
The gate states use JSONata, so that a missing metric is a value, not a runtime error.
"""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct


@dataclass(frozen=True)
class QualityGateProps:
    metric: str  # a name of infra.training_jobs.CLASSIFIER_METRICS
    threshold: float
    tolerance: float = 0.01  # no worse than the champion's by more than this


def champion_metric(metric: str) -> str:
    """The champion's figure on the same rows, as train.py prints it (``champion_macro_f1=...;``)."""
    return "champion_" + metric.removeprefix("test_")


def approval_record_expression(metric: str, threshold: float, tolerance: float = 0.01) -> str:
    """JSONata: the state's output, with ``quality.value`` null when the job reported no ``metric``,
    and ``quality.champion`` null when it scored no champion (the first model)."""
    return (
        "{% (\n"
        "  $job := $states.input.classifier_job;\n"
        "  $list := $job.FinalMetricDataList;\n"
        f"  $value := $list[MetricName = '{metric}'][0].Value;\n"
        f"  $champion := $list[MetricName = '{champion_metric(metric)}'][0].Value;\n"
        "  {\n"
        "    'ingest': $states.input.ingest,\n"
        "    'champion': $states.input.champion,\n"
        "    'embeddings': $states.input.embeddings,\n"
        "    'classifier': {'job_name': $job.TrainingJobName, 'model_data_url': $job.ModelArtifacts.S3ModelArtifacts},\n"
        f"    'quality': {{'metric': '{metric}', 'threshold': {threshold}, 'tolerance': {tolerance}, "
        "'value': $exists($value) ? $value : null, 'champion': $exists($champion) ? $champion : null},\n"
        "    'approved': {\n"
        "      'model_data_url': $job.ModelArtifacts.S3ModelArtifacts,\n"
        "      'metrics': $exists($list) ? $merge([$list.{MetricName: Value}]) : {},\n"
        "      'execution_id': $states.context.Execution.Id,\n"
        "      'training_job_name': $job.TrainingJobName,\n"
        "      'embeddings_job_name': $states.input.embeddings.job_name\n"
        "    }\n"
        "  }\n"
        ") %}"
    )


class QualityGate(Construct):
    """``self.start``: read the metric, then run ``approved`` and succeed with the approval record, or fail."""

    def __init__(self, scope: Construct, construct_id: str, *, props: QualityGateProps, approved: sfn.Chain) -> None:
        super().__init__(scope, construct_id)
        metric, threshold = props.metric, props.threshold
        self.start = sfn.Pass.jsonata(
            self,
            "Read quality metric",
            comment=f"Pick {metric} from the classifier job's final metrics and build the approval record",
            outputs=approval_record_expression(metric, threshold, props.tolerance),
        )
        missing = sfn.Fail.jsonata(
            self,
            "Quality metric missing",
            error="QualityMetricMissing",
            cause="{% 'Training job ' & $states.input.classifier.job_name & ' reported no "
            + metric
            + " (train.py must print a line like " + metric + "=0.91;): the model is not approved.' %}",
        )
        below = sfn.Fail.jsonata(
            self,
            "Quality gate failed",
            error="QualityGateFailed",
            cause="{% '" + metric + " = ' & $string($states.input.quality.value) & ' is below the threshold "
            + str(threshold)
            + " (classifier.quality_threshold): model ' & $states.input.classifier.job_name & ' is not approved.' %}",
        )
        tolerance = props.tolerance
        worse = sfn.Fail.jsonata(
            self,
            "Worse than the champion",
            error="WorseThanChampion",
            cause="{% '" + metric + " = ' & $string($states.input.quality.value) & ' is worse than the approved model\\'s '"
            " & $string($states.input.quality.champion) & ' on the same held-out rows by more than " + str(tolerance)
            + " (classifier.champion_tolerance): model ' & $states.input.classifier.job_name & ' is not registered.' %}",
        )
        self.choice = (
            sfn.Choice.jsonata(self, "Quality gate",
                               comment=f"{metric} >= {threshold} and no worse than the champion's - {tolerance}")
            .when(sfn.Condition.jsonata("{% $states.input.quality.value = null %}"), missing)
            .when(sfn.Condition.jsonata(f"{{% $states.input.quality.value < {threshold} %}}"), below)
            .when(sfn.Condition.jsonata(
                f"{{% $states.input.quality.champion != null and $states.input.quality.value < "
                f"$states.input.quality.champion - {tolerance} %}}"), worse)
            .otherwise(approved)
        )
        self.start.next(self.choice)
