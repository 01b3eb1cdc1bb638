"""Live results in AWS (issue #26): Firehose -> results bucket (Parquet) -> Glue table -> Athena.

- The **results bucket**: the project key, SSL only, access-logged like the other buckets;
  records expire after ``results.retention_days``, Athena's query results after 7 days.
- A **Kinesis Data Firehose** delivery stream (Direct PUT: the API and feed functions call
  ``PutRecordBatch``) converts the JSON lines of the record contract to **Parquet** with the
  Glue table's schema (docs/architecture.md, "Results as Parquet through Firehose") and writes
  them under ``records/<yyyy>/<MM>/<dd>/<HH>/`` (arrival hour, UTC); what it cannot convert
  goes under ``errors/``. Its role may write there, use the key through S3, read the table and
  write its own log stream.
- The **Glue** database and table ``results``: the columns are the schema file's
  (``functions/api/results_schema.json``, through ``headlines.results.schema``); one partition
  column ``dt`` (the arrival hour) resolved by **partition projection** (no crawler).
- An **Athena** workgroup with its configuration enforced: results encrypted with the project
  key in the results bucket, a bytes-scanned cutoff per query, CloudWatch metrics; and one
  **named query** per ``headlines/results/queries/*.sql`` (the dashboard's questions).

Everything lives in the pipeline stack (the data outlives the serving stack); the serving stack
imports the stream, bucket, database and workgroup by their export names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from headlines.results import schema as results_schema
from infra import nag
from infra.retention import Retention
from infra.storage import ABORT_INCOMPLETE_UPLOADS, kms_bucket_options, secure_bucket_options

RECORDS_PREFIX = "records/"
ERRORS_PREFIX = "errors/"
ATHENA_PREFIX = "athena/"
PARTITION = "dt"
PARTITION_FORMAT = "yyyy/MM/dd/HH"  # Firehose's !{timestamp:...} and the projection's date format
TIME_FORMAT = "yyyy-MM-dd HH:mm:ss.SSS"  # the record's time text (results_schema.json time_format)
ATHENA_ENGINE = "Athena engine version 3"
# Firehose's data format conversion needs a buffer of at least 64 MiB; 128 MiB / 5 minutes
# writes fewer, larger Parquet files (cheaper to scan) without holding records long.
BUFFER_MB, BUFFER_SECONDS = 128, 300
PARQUET = {
    "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}


@dataclass(frozen=True)
class ResultsStoreProps:
    resource_prefix: str
    database_name: str  # Glue names: lower case, digits and underscores
    workgroup_name: str
    stream_name: str
    retention_days: int
    max_scanned_mb: int
    store_text: bool = True  # false: a hash key secret for the headlines' keyed hash
    retention: Retention = Retention()


def glue_columns() -> List[Dict[str, str]]:
    """The Glue table's columns: the record schema's fields, in order, with their types."""
    return [{"name": f.name, "type": f.type, "comment": f.description[:255]} for f in results_schema.fields()]


def projection_parameters(bucket_name: str, retention_days: int) -> Dict[str, str]:
    """Partition projection of ``dt`` (the arrival hour): Athena computes the partitions of a
    query's range from these, no crawler and no MSCK REPAIR; the range ends at the retention."""
    return {
        "classification": "parquet",
        "projection.enabled": "true",
        f"projection.{PARTITION}.type": "date",
        f"projection.{PARTITION}.format": PARTITION_FORMAT,
        f"projection.{PARTITION}.range": f"NOW-{retention_days}DAYS,NOW",
        f"projection.{PARTITION}.interval": "1",
        f"projection.{PARTITION}.interval.unit": "HOURS",
        "storage.location.template": f"s3://{bucket_name}/{RECORDS_PREFIX}${{{PARTITION}}}/",
    }


def athena_reader_statements(stack: Stack, *, database: str, table: str, workgroup: str, bucket: s3.IBucket) -> List[iam.PolicyStatement]:
    """What a caller of Athena needs to query the results in their workgroup (Athena acts with the
    caller's permissions): the queries, the table's definition, the records, the workgroup's
    result location. The key (kms:Decrypt, GenerateDataKey) is granted beside it."""
    return [
        iam.PolicyStatement(
            actions=["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution"],
            resources=[stack.format_arn(service="athena", resource="workgroup", resource_name=workgroup)]),
        iam.PolicyStatement(
            actions=["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
            resources=[stack.format_arn(service="glue", resource="catalog"),
                       stack.format_arn(service="glue", resource="database", resource_name=database),
                       stack.format_arn(service="glue", resource="table", resource_name=f"{database}/{table}")]),
        iam.PolicyStatement(actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                            resources=[bucket.bucket_arn]),
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects(RECORDS_PREFIX + "*")]),
        iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                            resources=[bucket.arn_for_objects(ATHENA_PREFIX + "*")]),
    ]


class ResultsStore(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, props: ResultsStoreProps, key: kms.IKey,
                 access_logs: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        retention = props.retention
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            lifecycle_rules=[
                ABORT_INCOMPLETE_UPLOADS,
                s3.LifecycleRule(id="expire-records", prefix=RECORDS_PREFIX, expiration=Duration.days(props.retention_days)),
                s3.LifecycleRule(id="expire-conversion-errors", prefix=ERRORS_PREFIX, expiration=Duration.days(props.retention_days)),
                s3.LifecycleRule(id="expire-query-results", prefix=ATHENA_PREFIX, expiration=Duration.days(7)),
            ],
            **kms_bucket_options(key, access_logs, "results/"),
            **secure_bucket_options(retention),
        )
        self.database_name = props.database_name
        self.table_name = results_schema.TABLE
        self.database = glue.CfnDatabase(
            self, "Database", catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=props.database_name, description=f"{props.resource_prefix}: live results (one record per classified headline)"),
        )
        self.table = glue.CfnTable(
            self, "Table", catalog_id=stack.account, database_name=props.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=self.table_name,
                description="One record per classified headline (functions/api/results_schema.json), Parquet written by Firehose",
                table_type="EXTERNAL_TABLE",
                parameters=projection_parameters(self.bucket.bucket_name, props.retention_days),
                partition_keys=[glue.CfnTable.ColumnProperty(name=PARTITION, type="string", comment="arrival hour, UTC (yyyy/MM/dd/HH)")],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[glue.CfnTable.ColumnProperty(**column) for column in glue_columns()],
                    location=f"s3://{self.bucket.bucket_name}/{RECORDS_PREFIX}",
                    input_format=PARQUET["input_format"],
                    output_format=PARQUET["output_format"],
                    serde_info=glue.CfnTable.SerdeInfoProperty(serialization_library=PARQUET["serde"]),
                ),
            ),
        )
        self.table.node.add_dependency(self.database)
        self.table_arn = stack.format_arn(service="glue", resource="table", resource_name=f"{props.database_name}/{self.table_name}")
        self._stream(props, key)
        self._athena(props, key)
        self.hash_key = None if props.store_text else self._hash_key(props, key)
        self.key = key

    def grant_queries(self, role: iam.IRole) -> None:
        """``role`` may run Athena queries over the results (the notebook's role: notebook 04)."""
        stack = Stack.of(self)
        for statement in athena_reader_statements(stack, database=self.database_name, table=self.table_name,
                                                  workgroup=self.workgroup_name, bucket=self.bucket):
            role.add_to_principal_policy(statement)
        role.add_to_principal_policy(iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[self.key.key_arn],
                                                         conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}}))
        nag.allow_wildcards(role, (r"Resource::<Results[A-Za-z0-9]*Bucket[A-Za-z0-9]*\.Arn>/(records|athena)/\*",
                                   "Athena reads the records and writes the workgroup's results under these prefixes only"))

    def _hash_key(self, props: ResultsStoreProps, key: kms.IKey) -> secretsmanager.Secret:
        """The key of the keyed hash that stands for a headline whose text is not stored: kept
        with the data (the serving stack reads it), never rotated (equal headlines must keep
        equal hashes across time)."""
        secret = secretsmanager.Secret(
            self, "HashKey",
            description=f"{props.resource_prefix}: key of the headlines' HMAC-SHA256 in the result records",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True,
                                                                        include_space=False),
            removal_policy=props.retention.removal,
        )
        nag.suppress(secret, ("AwsSolutions-SMG4", "Not rotated on purpose: a new key would give the same headline another hash, "
                                                   "and the records of before and after would no longer group."))
        return secret

    def _stream(self, props: ResultsStoreProps, key: kms.IKey) -> None:
        stack = Stack.of(self)
        self.stream_log_group = logs.LogGroup(self, "StreamLogs", retention=props.retention.log_retention,
                                              removal_policy=props.retention.removal)
        log_stream = logs.LogStream(self, "StreamErrors", log_group=self.stream_log_group, removal_policy=props.retention.removal)
        self.stream_role = iam.Role(
            self, "StreamRole",
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": stack.account}}),
            description=f"{props.resource_prefix}: Firehose delivers result records to the results bucket as Parquet",
        )
        # Firehose's documented S3 destination permissions (Firehose developer guide, "Grant
        # Firehose access to an Amazon S3 destination"), on this bucket only.
        policy = iam.Policy(self, "StreamPolicy", roles=[self.stream_role], statements=[
            iam.PolicyStatement(actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                                resources=[self.bucket.bucket_arn]),
            iam.PolicyStatement(actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                                resources=[self.bucket.arn_for_objects(RECORDS_PREFIX + "*"), self.bucket.arn_for_objects(ERRORS_PREFIX + "*")]),
            iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn],
                                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}}),
            # Format conversion reads the table's schema (glue:GetTable*) on every version.
            iam.PolicyStatement(actions=["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"], resources=[
                stack.format_arn(service="glue", resource="catalog"),
                stack.format_arn(service="glue", resource="database", resource_name=props.database_name),
                self.table_arn,
            ]),
            iam.PolicyStatement(actions=["logs:PutLogEvents"], resources=[stack.format_arn(
                service="logs", resource="log-group", resource_name=f"{self.stream_log_group.log_group_name}:log-stream:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME)]),
        ])
        nag.allow_wildcards(policy, (r"Resource::<.*Bucket.*\.Arn>/(records|errors)/\*",
                                     "Firehose names its objects under the records/ and errors/ prefixes of this bucket"),
                            (r"Resource::arn:.+:logs:.+:log-group:<[A-Za-z0-9]*StreamLogs[A-Za-z0-9]*>:log-stream:\*",
                             "Firehose's error log streams of its own log group"))
        self.stream_name = props.stream_name
        self.stream = firehose.CfnDeliveryStream(
            self, "Stream",
            delivery_stream_name=self.stream_name,
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="AWS_OWNED_CMK"),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=self.bucket.bucket_arn,
                role_arn=self.stream_role.role_arn,
                prefix=f"{RECORDS_PREFIX}!{{timestamp:{PARTITION_FORMAT}}}/",
                error_output_prefix=f"{ERRORS_PREFIX}!{{firehose:error-output-type}}/!{{timestamp:{PARTITION_FORMAT}}}/",
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(interval_in_seconds=BUFFER_SECONDS, size_in_m_bs=BUFFER_MB),
                compression_format="UNCOMPRESSED",  # format conversion requires it; Parquet compresses (Snappy)
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(awskms_key_arn=key.key_arn)),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True, log_group_name=self.stream_log_group.log_group_name, log_stream_name=log_stream.log_stream_name),
                data_format_conversion_configuration=firehose.CfnDeliveryStream.DataFormatConversionConfigurationProperty(
                    enabled=True,
                    input_format_configuration=firehose.CfnDeliveryStream.InputFormatConfigurationProperty(
                        deserializer=firehose.CfnDeliveryStream.DeserializerProperty(
                            hive_json_ser_de=firehose.CfnDeliveryStream.HiveJsonSerDeProperty(timestamp_formats=[TIME_FORMAT]))),
                    output_format_configuration=firehose.CfnDeliveryStream.OutputFormatConfigurationProperty(
                        serializer=firehose.CfnDeliveryStream.SerializerProperty(
                            parquet_ser_de=firehose.CfnDeliveryStream.ParquetSerDeProperty(compression="SNAPPY"))),
                    schema_configuration=firehose.CfnDeliveryStream.SchemaConfigurationProperty(
                        catalog_id=stack.account, database_name=props.database_name, table_name=self.table_name,
                        region=stack.region, role_arn=self.stream_role.role_arn, version_id="LATEST"),
                ),
            ),
        )
        # Firehose checks its role when the stream is created: the policy and the table first.
        self.stream.node.add_dependency(policy)
        self.stream.node.add_dependency(self.table)
        # From the name, not a GetAtt: the same ARN, and templates that emulators without a
        # Firehose resource (the moto rehearsal) can still deploy.
        self.stream_arn = stack.format_arn(service="firehose", resource="deliverystream", resource_name=self.stream_name)

    def _athena(self, props: ResultsStoreProps, key: kms.IKey) -> None:
        self.workgroup_name = props.workgroup_name
        self.workgroup = athena.CfnWorkGroup(
            self, "WorkGroup",
            name=self.workgroup_name,
            description=f"{props.resource_prefix}: the live results' queries (encrypted results, a bytes-scanned cutoff)",
            state="ENABLED",
            recursive_delete_option=not props.retention.retains_data,  # its saved queries go with it
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=props.max_scanned_mb * 1024 * 1024,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version=ATHENA_ENGINE),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.bucket.bucket_name}/{ATHENA_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn),
                ),
            ),
        )
        self.named_queries = {}
        for query in results_schema.queries():
            named = athena.CfnNamedQuery(
                self, f"Query-{query.name}",
                name=query.name,
                description=query.description[:1024],
                database=props.database_name,
                query_string=query.sql,
                work_group=self.workgroup.ref,
            )
            named.node.add_dependency(self.workgroup)
            named.node.add_dependency(self.database)
            self.named_queries[query.name] = named
