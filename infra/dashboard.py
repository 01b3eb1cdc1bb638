"""The project's CloudWatch dashboard: the API, the endpoint, the live results per category,
the drift check, the results stream and the pipeline, on one page.

- API Gateway (``AWS/ApiGateway``, ApiName + Stage): requests, latency p50/p90/p99, 4xx/5xx;
  throttles: the API function's (``AWS/Lambda`` Throttles) and the gateway's 429s are in 4xx;
- the endpoint (``AWS/SageMaker``, EndpointName + VariantName): invocations, model latency,
  errors; instances: the per-instance ``CPUUtilization`` datapoints per minute
  (``/aws/sagemaker/Endpoints`` SampleCount; SageMaker publishes no instance-count metric);
- per category (the API handler's EMF metrics, dimensions service + category,
  ``CATEGORY_METRICS``): headlines classified and mean confidence;
- drift (infra/drift_watch.py), Firehose delivery and dropped records, pipeline executions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.endpoint import VARIANT

#: The API handler's per-category EMF metrics (functions/api/app.py): name, statistic, dimension.
CATEGORY_METRICS = {"classified": ("CategoryHeadlines", "Sum"), "confidence": ("CategoryConfidence", "Average")}
CATEGORY_DIMENSION = "category"
DROPPED_METRIC = "ResultsDropped"
PERIOD = Duration.minutes(5)


@dataclass(frozen=True)
class DashboardProps:
    dashboard_name: str
    api_name: str
    stage_name: str
    api_function_name: str
    api_service_name: str  # the API function's POWERTOOLS_SERVICE_NAME (its EMF dimension)
    metrics_namespace: str
    endpoint_name: str
    categories: Sequence[str]
    state_machine_arn: str
    stream_name: str
    feed_service_name: Optional[str] = None


class HeadlinesDashboard(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, props: DashboardProps,
                 drift_metrics: Sequence[cloudwatch.IMetric] = ()) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=props.dashboard_name,
                                              default_interval=Duration.hours(24))
        for row in (self._api(), self._endpoint(), self._categories(), self._results(drift_metrics)):
            self.dashboard.add_widgets(*row)

    def _metric(self, namespace: str, name: str, dimensions: dict, statistic: str, label: Optional[str] = None) -> cloudwatch.Metric:
        return cloudwatch.Metric(namespace=namespace, metric_name=name, dimensions_map=dimensions, statistic=statistic,
                                 period=PERIOD, label=label or f"{name} ({statistic})")

    def _graph(self, title: str, metrics: Sequence[cloudwatch.IMetric], right: Sequence[cloudwatch.IMetric] = ()) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(title=title, left=list(metrics), right=list(right), width=6, height=6)

    def _api(self) -> List[cloudwatch.IWidget]:
        p = self.props
        api = {"ApiName": p.api_name, "Stage": p.stage_name}
        gateway = "AWS/ApiGateway"
        return [
            self._graph("API requests", [self._metric(gateway, "Count", api, "Sum", "requests")]),
            self._graph("API latency (ms)", [self._metric(gateway, "Latency", api, s, s) for s in ("p50", "p90", "p99")]),
            self._graph("API errors", [self._metric(gateway, "4XXError", api, "Sum", "4xx (429 throttled included)"),
                                       self._metric(gateway, "5XXError", api, "Sum", "5xx")]),
            self._graph("Throttles", [self._metric("AWS/Lambda", "Throttles", {"FunctionName": p.api_function_name}, "Sum",
                                                   "API function throttled")]),
        ]

    def _endpoint(self) -> List[cloudwatch.IWidget]:
        p = self.props
        endpoint = {"EndpointName": p.endpoint_name, "VariantName": VARIANT}
        sm = "AWS/SageMaker"
        return [
            self._graph("Endpoint invocations", [self._metric(sm, "Invocations", endpoint, "Sum", "invocations")]),
            self._graph("Model latency (µs)", [self._metric(sm, "ModelLatency", endpoint, s, s) for s in ("p50", "p90", "p99")]),
            self._graph("Endpoint errors", [self._metric(sm, "Invocation4XXErrors", endpoint, "Sum", "4xx"),
                                            self._metric(sm, "Invocation5XXErrors", endpoint, "Sum", "5xx"),
                                            self._metric(sm, "ModelSetupTime", endpoint, "SampleCount", "cold starts (serverless)")]),
            self._graph("Endpoint instances", [cloudwatch.Metric(
                namespace="/aws/sagemaker/Endpoints", metric_name="CPUUtilization", dimensions_map=endpoint,
                statistic="SampleCount", period=Duration.minutes(1), label="instances (CPU datapoints per minute)")]),
        ]

    def _categories(self) -> List[cloudwatch.IWidget]:
        p = self.props
        widgets: List[cloudwatch.IWidget] = []
        for title, (name, statistic) in (("Headlines per category", CATEGORY_METRICS["classified"]),
                                         ("Mean confidence per category", CATEGORY_METRICS["confidence"])):
            widgets.append(cloudwatch.GraphWidget(title=title, width=12, height=6, stacked=statistic == "Sum", left=[
                self._metric(p.metrics_namespace, name, {"service": p.api_service_name, CATEGORY_DIMENSION: category},
                             statistic, category)
                for category in p.categories]))
        return widgets

    def _results(self, drift_metrics: Sequence[cloudwatch.IMetric]) -> List[cloudwatch.IWidget]:
        p = self.props
        stream = {"DeliveryStreamName": p.stream_name}
        delivery = [self._metric("AWS/Firehose", "IncomingRecords", stream, "Sum", "records in"),
                    self._metric("AWS/Firehose", "DeliveryToS3.Records", stream, "Sum", "records delivered"),
                    self._metric(p.metrics_namespace, DROPPED_METRIC, {"service": p.api_service_name}, "Sum", "dropped by the API")]
        if p.feed_service_name:
            delivery.append(self._metric(p.metrics_namespace, "FeedItemsRecorded", {"service": p.feed_service_name}, "Sum",
                                         "feed items recorded"))
        executions = {"StateMachineArn": p.state_machine_arn}
        feeds: List[cloudwatch.IWidget] = []
        if p.feed_service_name:
            # one FeedFailed per failing feed and run, dimension feed (functions/api/feed_handler.py)
            feeds.append(cloudwatch.GraphWidget(title="Feeds that failed", width=6, height=6, left=[cloudwatch.MathExpression(
                expression=f"SEARCH('{{{p.metrics_namespace},service,feed}} MetricName=\"FeedFailed\" "
                           f"service=\"{p.feed_service_name}\"', 'Sum', 300)",
                label="", period=PERIOD)]))
        return [
            self._graph("Drift (0 to 1)", list(drift_metrics)),
            self._graph("Results stream", delivery),
            self._graph("Pipeline executions", [self._metric("AWS/States", name, executions, "Sum", label)
                                                for name, label in (("ExecutionsStarted", "started"), ("ExecutionsSucceeded", "succeeded"),
                                                                    ("ExecutionsFailed", "failed"), ("ExecutionsTimedOut", "timed out"))]),
            *feeds,
        ]
