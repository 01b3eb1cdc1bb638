"""Live results in AWS (issue #26), on the synthesized templates: the results bucket, the
Firehose delivery stream (Parquet through format conversion from the Glue table), the Glue
table with partition projection, the Athena workgroup and named queries, the drift watch, the
feed reader (only when feeds are configured) and the dashboard."""
from __future__ import annotations

import json
import re

import pytest
from conftest import FEEDS

from headlines.config import load_config
from headlines.results import schema as results_schema
from infra.feeds import schedule_expression
from infra.results_store import PARTITION_FORMAT, RECORDS_PREFIX

pytestmark = pytest.mark.xdist_group("infra")


def one(synth, stack, type_):
    found = synth.resources(stack, type_)
    assert len(found) == 1, (type_, list(found))
    return next(iter(found.values()))


def test_the_glue_table_has_the_schema_files_columns_and_partition_projection(dev):
    table = one(dev, dev.pipeline_name, "AWS::Glue::Table")["Properties"]["TableInput"]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == [(f.name, f.type) for f in results_schema.fields()]
    assert table["Name"] == results_schema.TABLE == "results"
    assert [p["Name"] for p in table["PartitionKeys"]] == ["dt"]
    params = table["Parameters"]
    assert params["projection.enabled"] == "true" and params["projection.dt.type"] == "date"
    assert params["projection.dt.format"] == PARTITION_FORMAT and params["projection.dt.interval.unit"] == "HOURS"
    assert params["projection.dt.range"] == "NOW-90DAYS,NOW"
    assert "${dt}" in json.dumps(params["storage.location.template"])
    assert "ParquetHiveSerDe" in table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert not dev.resources(dev.pipeline_name, "AWS::Glue::Crawler")


def test_firehose_converts_to_parquet_with_the_table_and_writes_where_the_projection_reads(dev):
    stream = one(dev, dev.pipeline_name, "AWS::KinesisFirehose::DeliveryStream")["Properties"]
    assert stream["DeliveryStreamType"] == "DirectPut"
    assert stream["DeliveryStreamEncryptionConfigurationInput"]["KeyType"] == "AWS_OWNED_CMK"
    s3 = stream["ExtendedS3DestinationConfiguration"]
    # the projection's template is records/${dt}/ with dt formatted as the stream's timestamp prefix
    assert s3["Prefix"] == f"{RECORDS_PREFIX}!{{timestamp:{PARTITION_FORMAT}}}/"
    assert s3["ErrorOutputPrefix"].startswith("errors/!{firehose:error-output-type}/")
    assert s3["BufferingHints"]["SizeInMBs"] >= 64  # format conversion's minimum
    assert s3["CompressionFormat"] == "UNCOMPRESSED"  # required with format conversion
    conversion = s3["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert "ParquetSerDe" in conversion["OutputFormatConfiguration"]["Serializer"]
    schema = conversion["SchemaConfiguration"]
    assert schema["TableName"] == "results" and schema["DatabaseName"] == "headlines_dev_results"
    time_format = results_schema.document()["time_format"]
    assert conversion["InputFormatConfiguration"]["Deserializer"]["HiveJsonSerDe"]["TimestampFormats"] == [time_format]
    assert s3["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"]
    assert s3["CloudWatchLoggingOptions"]["Enabled"] is True


def test_firehose_is_created_after_its_role_policy_and_the_table(dev):
    template = dev.templates[dev.pipeline_name]["Resources"]
    logical = next(k for k, r in template.items() if r["Type"] == "AWS::KinesisFirehose::DeliveryStream")
    depends = template[logical].get("DependsOn", [])
    assert any(template[d]["Type"] == "AWS::IAM::Policy" for d in depends)
    assert any(template[d]["Type"] == "AWS::Glue::Table" for d in depends)


def test_the_results_bucket_is_encrypted_ssl_only_logged_and_expires_records(dev, with_feeds):
    for synth, days in ((dev, 90), (with_feeds, 30)):
        buckets = synth.resources(synth.pipeline_name, "AWS::S3::Bucket")
        results = next(b for k, b in buckets.items() if k.startswith("Results"))["Properties"]
        encryption = results["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" and encryption["BucketKeyEnabled"]
        assert results["LoggingConfiguration"]["LogFilePrefix"] == "results/"
        rules = {r["Id"]: r for r in results["LifecycleConfiguration"]["Rules"]}
        assert rules["expire-records"]["ExpirationInDays"] == days and rules["expire-records"]["Prefix"] == RECORDS_PREFIX
        assert rules["expire-query-results"]["ExpirationInDays"] == 7
        policies = synth.resources(synth.pipeline_name, "AWS::S3::BucketPolicy")
        policy = next(p for k, p in policies.items() if k.startswith("Results"))
        assert any(s["Effect"] == "Deny" and s["Condition"].get("Bool", {}).get("aws:SecureTransport") == "false"
                   for s in policy["Properties"]["PolicyDocument"]["Statement"])


def test_the_athena_workgroup_enforces_encrypted_results_and_a_cutoff(dev):
    workgroup = one(dev, dev.pipeline_name, "AWS::Athena::WorkGroup")["Properties"]
    config = workgroup["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == load_config().results.drift.max_scanned_mb * 1024 * 1024
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert "athena/" in json.dumps(config["ResultConfiguration"]["OutputLocation"])


def test_one_named_query_per_sql_file(dev):
    named = dev.resources(dev.pipeline_name, "AWS::Athena::NamedQuery")
    by_name = {q["Properties"]["Name"]: q["Properties"] for q in named.values()}
    assert set(by_name) == {q.name for q in results_schema.queries()} and len(by_name) >= 5
    for query in results_schema.queries():
        assert by_name[query.name]["QueryString"] == query.sql
        assert by_name[query.name]["Database"] == "headlines_dev_results"


def test_the_api_function_sends_records_to_the_stream(dev):
    functions = dev.resources(dev.serving_name, "AWS::Lambda::Function")
    api = next(f for k, f in functions.items() if k.startswith("ApiHandler"))["Properties"]
    assert api["Environment"]["Variables"]["RESULTS_STREAM"] == {"Fn::ImportValue": "HeadlinesPipeline-ResultsStreamName"}


def test_no_feed_reader_while_no_feed_is_configured(dev):
    functions = dev.resources(dev.serving_name, "AWS::Lambda::Function")
    assert not any(k.startswith("Feeds") for k in functions)
    assert not dev.resources(dev.serving_name, "AWS::DynamoDB::Table")


def test_the_feed_reader_runs_on_its_schedule_when_feeds_are_configured(with_feeds):
    serving = with_feeds.serving_name
    functions = with_feeds.resources(serving, "AWS::Lambda::Function")
    feeds = next(f for k, f in functions.items() if k.startswith("Feeds"))["Properties"]
    variables = feeds["Environment"]["Variables"]
    assert json.loads(variables["FEEDS"]) == FEEDS
    assert feeds["Handler"] == "feed_handler.handler"
    assert variables["RESULTS_STREAM"] == {"Fn::ImportValue": "HeadlinesPipeline-ResultsStreamName"}
    assert feeds["Timeout"] <= 60  # within the 1-minute interval: runs do not overlap
    rules = with_feeds.resources(serving, "AWS::Events::Rule")
    expressions = sorted(r["Properties"]["ScheduleExpression"] for r in rules.values() if "ScheduleExpression" in r["Properties"])
    assert expressions == ["rate(1 minute)", "rate(60 minutes)"]
    body = one(with_feeds, serving, "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"]
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in body["Fn::Join"][1]) if isinstance(body, dict) else body
    feeds_widget = next(w for w in json.loads(text)["widgets"] if w["properties"]["title"] == "Feeds that failed")
    assert 'MetricName="FeedFailed"' in feeds_widget["properties"]["metrics"][0][0]["expression"]
    table = one(with_feeds, serving, "AWS::DynamoDB::Table")["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


def test_schedule_expressions_follow_eventbridge_rate_syntax():
    # EventBridge: rate(value unit), unit singular for 1 and plural otherwise.
    pattern = re.compile(r"rate\((1 minute|([2-9]|[1-9][0-9]+) minutes)\)")
    for minutes in (1, 2, 15, 60, 1440):
        assert pattern.fullmatch(schedule_expression(minutes)), minutes


def test_the_drift_watch_alarms_to_the_alert_topic(dev):
    serving = dev.serving_name
    alarms = dev.resources(serving, "AWS::CloudWatch::Alarm")
    drift = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values() if a["Properties"].get("Namespace") == "headlines"}
    assert set(drift) == {"DriftCategoryDistance", "DriftLowConfidenceShare", "DriftCheckFailed"}
    drift_cfg = load_config().results.drift
    assert drift["DriftCategoryDistance"]["Threshold"] == drift_cfg.max_category_distance
    assert drift["DriftLowConfidenceShare"]["Threshold"] == drift_cfg.max_low_confidence_share
    for alarm in drift.values():
        assert alarm["AlarmActions"] == [{"Fn::ImportValue": "HeadlinesPipeline-AlertsTopicArn"}]
        assert alarm["Dimensions"] == [{"Name": "service", "Value": "headlines-drift"}]
        assert alarm["TreatMissingData"] == "notBreaching"
    functions = dev.resources(serving, "AWS::Lambda::Function")
    handler = next(f for k, f in functions.items() if k.startswith("Drift"))["Properties"]
    assert handler["Handler"] == "drift_handler.handler"
    assert handler["Environment"]["Variables"]["RESULTS_WORKGROUP"] == "headlines-dev-results"


def test_the_functions_asset_carries_the_pinned_defusedxml(dev):
    """Vendored at synth (infra/functions.py): no Docker, no network."""
    functions = dev.resources(dev.serving_name, "AWS::Lambda::Function")
    api = next(f for k, f in functions.items() if k.startswith("ApiHandler"))
    key = api["Properties"]["Code"]["S3Key"]
    asset = dev.outdir / f"asset.{key.split('.')[0]}"
    assert (asset / "defusedxml" / "__init__.py").is_file()
    assert (asset / "feed_handler.py").is_file() and (asset / "app.py").is_file()
    assert not list(asset.rglob("*.pyc"))
    assert "Version: 0.7.1" in next(asset.glob("defusedxml-*.dist-info")).joinpath("METADATA").read_text()


def test_the_dashboard_has_the_api_endpoint_category_drift_and_pipeline_widgets(dev):
    dashboard = one(dev, dev.serving_name, "AWS::CloudWatch::Dashboard")["Properties"]
    body = dashboard["DashboardBody"]
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in body["Fn::Join"][1]) if isinstance(body, dict) else body
    document = json.loads(text)
    titles = {w["properties"]["title"] for w in document["widgets"]}
    assert {"API requests", "API latency (ms)", "API errors", "Throttles", "Endpoint invocations", "Model latency (µs)",
            "Endpoint errors", "Endpoint instances", "Headlines per category", "Mean confidence per category",
            "Drift (0 to 1)", "Pipeline executions"} <= titles
    per_category = next(w for w in document["widgets"] if w["properties"]["title"] == "Headlines per category")
    assert len(per_category["properties"]["metrics"]) == len(results_schema.document()["categories"])


@pytest.fixture(scope="module")
def hashed(tmp_path_factory):
    """results.store_text false: a hash key secret, read by the recording functions."""
    from infra_support import synthesize

    return synthesize(tmp_path_factory.mktemp("cdk-hashed"), {"headlines.results.store_text": "false"})


def test_text_is_stored_by_default_and_no_key_is_made(dev):
    functions = dev.resources(dev.serving_name, "AWS::Lambda::Function")
    api = next(f for k, f in functions.items() if k.startswith("ApiHandler"))["Properties"]["Environment"]["Variables"]
    assert api["RESULTS_STORE_TEXT"] == "true" and "RESULTS_HASH_KEY_SECRET" not in api
    assert not dev.resources(dev.pipeline_name, "AWS::SecretsManager::Secret")


def test_without_text_the_functions_read_the_hash_key_secret(hashed):
    from test_infra_permissions import IMPORTED_KEY, Call, allowing

    secret = one(hashed, hashed.pipeline_name, "AWS::SecretsManager::Secret")["Properties"]
    assert "KmsKeyId" in secret and secret["GenerateSecretString"]["PasswordLength"] == 64
    functions = hashed.resources(hashed.serving_name, "AWS::Lambda::Function")
    api = next(f for k, f in functions.items() if k.startswith("ApiHandler"))["Properties"]["Environment"]["Variables"]
    assert api["RESULTS_STORE_TEXT"] == "false"
    assert api["RESULTS_HASH_KEY_SECRET"] == {"Fn::ImportValue": "HeadlinesPipeline-ResultsHashKeyArn"}
    for call in (Call("ApiHandlerRole", "results_recorder.py: the hash key", "secretsmanager", "GetSecretValue",
                      "<import:HeadlinesPipeline-ResultsHashKeyArn>"),
                 Call("ApiHandlerRole", "the secret's key", "kms", "Decrypt", IMPORTED_KEY,
                      {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"})):
        assert allowing(hashed.templates, call), call.caller
    assert not allowing(hashed.templates, Call("ApiHandlerRole", "the key for anything else", "kms", "Decrypt", IMPORTED_KEY))


@pytest.mark.parametrize("override, message", [
    ({"headlines.results.feeds.urls": '["file:///etc/passwd"]'}, "is not an http(s) URL"),
    ({"headlines.results.feeds.urls": '["https://e.com/a", "https://e.com/a"]'}, "listed twice"),
    ({"headlines.results.feeds.interval_minutes": "0"}, "interval_minutes"),
    ({"headlines.results.drift.max_scanned_mb": "5"}, "max_scanned_mb"),  # Athena's cutoff minimum is 10 MB
    ({"headlines.results.drift.max_category_distance": "1.5"}, "max_category_distance"),
    ({"headlines.results.retention_days": "0"}, "retention_days"),
])
def test_results_settings_are_validated_in_one_line(override, message):
    from headlines.config import ConfigError

    with pytest.raises(ConfigError) as raised:
        load_config(override)
    text = str(raised.value)
    assert "\n" not in text and message in text and text.startswith("cdk.json headlines.results.")
