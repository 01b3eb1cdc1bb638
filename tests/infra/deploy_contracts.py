"""What AWS checks when it creates, updates, invokes and deletes the synthesized resources, as
functions over templates: each returns the violations it finds (empty: the contract holds).

Each check names the AWS contract it follows. They read whole synthesized apps (both stacks,
with cross-stack imports resolved), so a new resource of the same kind is checked too.
"""
from __future__ import annotations

import fnmatch
import json
import re
import uuid
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

Template = Dict[str, Any]
Templates = Dict[str, Template]  # stack name -> template

ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"


# ---- resolving references across the app's stacks ----------------------------------------------
def _exports(templates: Templates) -> Dict[str, Tuple[str, Any]]:
    """export name -> (stack, the output's Value)."""
    found = {}
    for stack, template in templates.items():
        for output in template.get("Outputs", {}).values():
            name = output.get("Export", {}).get("Name")
            if isinstance(name, str):
                found[name] = (stack, output["Value"])
    return found


def resolve_logical(templates: Templates, stack: str, value: Any) -> Optional[Tuple[str, str]]:
    """``(stack, logical id)`` of the resource a Ref / GetAtt / ImportValue points at."""
    if isinstance(value, dict):
        if "Ref" in value and value["Ref"] in templates[stack]["Resources"]:
            return stack, value["Ref"]
        if "Fn::GetAtt" in value:
            return stack, value["Fn::GetAtt"][0]
        if "Fn::ImportValue" in value and isinstance(value["Fn::ImportValue"], str):
            exported = _exports(templates).get(value["Fn::ImportValue"])
            if exported:
                return resolve_logical(templates, exported[0], exported[1])
    return None


def resources_of(templates: Templates, type_: str) -> Iterable[Tuple[str, str, Dict[str, Any]]]:
    for stack, template in templates.items():
        for logical, resource in template["Resources"].items():
            if resource["Type"] == type_:
                yield stack, logical, resource


def _as_list(value: Any) -> List[Any]:
    return value if isinstance(value, list) else [value]


def _statements(document: Dict[str, Any]) -> List[Dict[str, Any]]:
    return _as_list(document.get("Statement", []))


def _admits(statement: Dict[str, Any], service: str, actions: Iterable[str]) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    principal = statement.get("Principal", {})
    services = _as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
    if service not in services and principal != "*":
        return False
    granted = [a.lower() for a in _as_list(statement.get("Action", []))]
    return all(any(fnmatch.fnmatchcase(action.lower(), g) for g in granted) for action in actions)


# ---- SNS topics: the services that publish to them ----------------------------------------------
def topic_publishers(templates: Templates) -> List[Tuple[Tuple[str, str], str, str]]:
    """``((stack, topic), service, what)`` for every alarm action and rule target that is a topic."""
    found = []
    for stack, logical, alarm in resources_of(templates, "AWS::CloudWatch::Alarm"):
        props = alarm["Properties"]
        for action in props.get("AlarmActions", []) + props.get("OKActions", []) + props.get("InsufficientDataActions", []):
            topic = resolve_logical(templates, stack, action)
            if topic and templates[topic[0]]["Resources"][topic[1]]["Type"] == "AWS::SNS::Topic":
                found.append((topic, "cloudwatch.amazonaws.com", f"{stack}/{logical}"))
    for stack, logical, rule in resources_of(templates, "AWS::Events::Rule"):
        for target in rule["Properties"].get("Targets", []):
            topic = resolve_logical(templates, stack, target["Arn"])
            if topic and templates[topic[0]]["Resources"][topic[1]]["Type"] == "AWS::SNS::Topic":
                found.append((topic, "events.amazonaws.com", f"{stack}/{logical}"))
    return found


def topic_policy_violations(templates: Templates) -> List[str]:
    """A topic policy replaces SNS's default one: every service that publishes to the topic
    (CloudWatch for alarms, EventBridge for rules) needs an Allow for sns:Publish there, and,
    on a KMS-encrypted topic, kms:GenerateDataKey* and kms:Decrypt in the key policy (SNS
    developer guide: access control examples; encrypted topics and AWS services)."""
    violations = []
    for (stack, topic), service, what in topic_publishers(templates):
        template = templates[stack]
        policies = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::SNS::TopicPolicy"
                    and {"Ref": topic} in r["Properties"]["Topics"]]
        if policies and not any(_admits(s, service, ["sns:Publish"]) for p in policies
                                for s in _statements(p["PolicyDocument"])):
            violations.append(f"{what} publishes to {stack}/{topic} as {service}, which its topic policy does not admit")
        key = template["Resources"][topic]["Properties"].get("KmsMasterKeyId")
        key_ref = resolve_logical(templates, stack, key) if key else None
        if key_ref:
            key_policy = templates[key_ref[0]]["Resources"][key_ref[1]]["Properties"]["KeyPolicy"]
            if not any(_admits(s, service, ["kms:GenerateDataKey", "kms:Decrypt"]) for s in _statements(key_policy)):
                violations.append(f"{what} publishes to {stack}/{topic} as {service}, which may not use its KMS key")
    return violations


# ---- API Gateway's gateway responses ------------------------------------------------------------
#: What API Gateway substitutes in a gateway response template (no VTL: plain substitution).
#: $context.error.messageString is documented as "the quoted value of $context.error.message".
def render_gateway_template(template: str, message: str, validation: str) -> str:
    variables = {
        "$context.error.messageString": json.dumps(message),
        "$context.error.message": message,
        "$context.error.validationErrorString": validation,
        "$context.error.responseType": "BAD_REQUEST_BODY",
        "$context.requestId": str(uuid.uuid4()),
    }
    # Longest names first: $context.error.message is a prefix of $context.error.messageString.
    for name in sorted(variables, key=len, reverse=True):
        template = template.replace(name, variables[name])
    if "$context" in template or "$util" in template:
        raise ValueError(f"unsupported variable left in a gateway response template: {template}")
    return template


ADVERSARIAL_MESSAGES = (
    'Invalid request body', 'say "hi"', "back\\slash", "line\nbreak", "tab\there", "café ünïcödé ✓ 日本",
    '[object has missing required properties (["headline"])]', "{\"json\": true}", "'single'", "</script>",
)


def gateway_response_violations(templates: Templates) -> List[str]:
    violations = []
    for stack, logical, response in resources_of(templates, "AWS::ApiGateway::GatewayResponse"):
        for content_type, template in response["Properties"].get("ResponseTemplates", {}).items():
            for message in ADVERSARIAL_MESSAGES:
                rendered = render_gateway_template(template, message, message)
                try:
                    body = json.loads(rendered)
                except ValueError as error:
                    violations.append(f"{stack}/{logical} ({content_type}) is not JSON for {message!r}: {error}")
                    continue
                error_body = body.get("error", {}) if isinstance(body, dict) else {}
                if "$context.error.message" in template and error_body.get("message") != message:
                    violations.append(f"{stack}/{logical}: the gateway's message {message!r} does not arrive intact")
    return violations


# ---- Step Functions retries ---------------------------------------------------------------------
#: Errors that say a quota or limit is exhausted: a retry only delays the failure (and retried
#: under the same name, CreateTrainingJob can end in a duplicate-name error hiding the cause).
QUOTA_ERROR = re.compile(r"(LimitExceeded|QuotaExceeded|ServiceQuota)", re.I)


def state_machine_definitions(templates: Templates) -> Iterable[Tuple[str, Dict[str, Any]]]:
    for stack, logical, machine in resources_of(templates, "AWS::StepFunctions::StateMachine"):
        definition = machine["Properties"]["DefinitionString"]
        if isinstance(definition, dict):
            definition = "".join(p if isinstance(p, str) else "TOKEN" for p in definition["Fn::Join"][1])
        yield f"{stack}/{logical}", json.loads(definition)


def _states(definition: Dict[str, Any]) -> Iterable[Tuple[str, Dict[str, Any]]]:
    for name, state in definition.get("States", {}).items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        if "Iterator" in state:
            yield from _states(state["Iterator"])
        if "ItemProcessor" in state:
            yield from _states(state["ItemProcessor"])


def quota_retry_violations(templates: Templates) -> List[str]:
    violations = []
    for machine, definition in state_machine_definitions(templates):
        for name, state in _states(definition):
            for retry in state.get("Retry", []):
                for error in retry.get("ErrorEquals", []):
                    if QUOTA_ERROR.search(error) or (error == "States.ALL" and state.get("Type") == "Task"):
                        violations.append(f"{machine} state {name!r} retries {error}")
    return violations


def _longest_path_seconds(definition: Dict[str, Any]) -> int:
    """The Task timeouts along the longest way through the states (a Choice takes one of its
    branches; Parallel and Map states are counted whole, as if in sequence)."""
    states = definition.get("States", {})
    memo: Dict[str, int] = {}

    def longest(name: str) -> int:
        if name not in memo:
            state = states[name]
            own = state.get("TimeoutSeconds", 0) if state.get("Type") == "Task" else 0
            own += sum(inner.get("TimeoutSeconds", 0) for branch in state.get("Branches", [])
                       for _, inner in _states(branch) if inner.get("Type") == "Task")
            following = [state.get("Next"), state.get("Default"), *(c.get("Next") for c in state.get("Choices", []))]
            memo[name] = own + max([longest(n) for n in following if n] or [0])
        return memo[name]

    return longest(definition["StartAt"])


def execution_timeout_violations(templates: Templates) -> List[str]:
    """An execution's TimeoutSeconds must outlast what its Task states may take in sequence
    (each its own TimeoutSeconds, along the longest way): else States.Timeout stops a job that
    is still training."""
    violations = []
    for machine, definition in state_machine_definitions(templates):
        tasks = _longest_path_seconds(definition)
        if definition.get("TimeoutSeconds", 0) < tasks:
            violations.append(f"{machine}: TimeoutSeconds {definition.get('TimeoutSeconds')} < its tasks' {tasks}")
    return violations


# ---- log groups ---------------------------------------------------------------------------------
def log_group_violations(templates: Templates, retain: bool) -> List[str]:
    """Every log group the stacks cause to exist has a retention and the stage's fate on delete:
    the stacks' own groups, each function's (LoggingConfig), each endpoint's, API Gateway's
    execution logs, and the account-wide ones of training jobs and notebook instances (kept)."""
    violations = []
    for stack, logical, group in resources_of(templates, "AWS::Logs::LogGroup"):
        if "RetentionInDays" not in group.get("Properties", {}):
            violations.append(f"{stack}/{logical}: no retention")
        expected = "Retain" if retain else "Delete"
        if group.get("DeletionPolicy", "Delete") != expected:
            violations.append(f"{stack}/{logical}: DeletionPolicy {group.get('DeletionPolicy')}, the stage's is {expected}")
    for stack, logical, function in resources_of(templates, "AWS::Lambda::Function"):
        target = function["Properties"].get("LoggingConfig", {}).get("LogGroup")
        if not (target and resolve_logical(templates, stack, target)):
            violations.append(f"{stack}/{logical}: logs to a group Lambda creates (/aws/lambda/<name>), kept forever")
    retained: Dict[str, Tuple[str, str, Dict[str, Any]]] = {}
    for stack, logical, custom in resources_of(templates, "Custom::LogRetention"):
        props = custom["Properties"]
        retained[props["LogGroupName"]] = (stack, logical, props)
    for stack, logical, endpoint in resources_of(templates, "AWS::SageMaker::Endpoint"):
        name = endpoint["Properties"].get("EndpointName")
        found = retained.get(f"/aws/sagemaker/Endpoints/{name}")
        if not found:
            violations.append(f"{stack}/{logical}: no retention for /aws/sagemaker/Endpoints/{name}")
            continue
        if found[1] not in _depends_on(templates[stack], logical):
            violations.append(f"{stack}/{logical}: created before its log group's retention ({found[1]})")
        if found[2].get("RemovalPolicy") != ("retain" if retain else "destroy"):
            violations.append(f"{stack}/{logical}: its log group's fate is {found[2].get('RemovalPolicy')}")
    machines = list(state_machine_definitions(templates))
    if any("createTrainingJob" in json.dumps(d) for _, d in machines):
        _shared(retained, "/aws/sagemaker/TrainingJobs", violations)
    if list(resources_of(templates, "AWS::SageMaker::NotebookInstance")):
        _shared(retained, "/aws/sagemaker/NotebookInstances", violations)
    for stack, logical, stage in resources_of(templates, "AWS::ApiGateway::Stage"):
        levels = {s.get("LoggingLevel", "OFF") for s in stage["Properties"].get("MethodSettings", [])}
        if levels - {"OFF"}:
            api = stage["Properties"]["RestApiId"]["Ref"]
            name = stage["Properties"]["StageName"]
            groups = [g for g_stack, g, group in resources_of({stack: templates[stack]}, "AWS::Logs::LogGroup")
                      if group["Properties"].get("LogGroupName") == {"Fn::Join": ["", ["API-Gateway-Execution-Logs_", {"Ref": api}, f"/{name}"]]}]
            if not groups:
                violations.append(f"{stack}/{logical}: execution logging writes to a group API Gateway creates, kept forever")
            elif groups[0] not in _depends_on(templates[stack], logical):
                violations.append(f"{stack}/{logical}: the stage may log before {groups[0]} exists")
    return violations


def _shared(retained: Dict[str, Tuple[str, str, Dict[str, Any]]], name: str, violations: List[str]) -> None:
    found = retained.get(name)
    if not found:
        violations.append(f"no retention for the account's {name}")
    elif found[2].get("RemovalPolicy") != "retain":
        violations.append(f"{name} is shared by the account: a stack must not delete it")


def _depends_on(template: Template, logical: str) -> set:
    """Everything ``logical`` depends on, transitively (DependsOn, Ref, GetAtt)."""
    seen, todo = set(), [logical]
    while todo:
        current = todo.pop()
        resource = template["Resources"].get(current, {})
        direct = set(_as_list(resource.get("DependsOn", [])))
        text = json.dumps(resource.get("Properties", {}))
        direct |= set(re.findall(r'"Ref": "([A-Za-z0-9]+)"', text)) | set(re.findall(r'"Fn::GetAtt": \["([A-Za-z0-9]+)"', text))
        for name in direct - seen:
            if name in template["Resources"]:
                seen.add(name)
                todo.append(name)
    return seen


# ---- the CDK bootstrap template: what the deploy role may do -----------------------------------
def bootstrap_roles(path: Path, qualifier: str = "hnb659fds") -> Dict[str, Dict[str, Any]]:
    """role resource -> its inline policy documents (concrete: Fn::Sub and Fn::If resolved with the
    template's defaults), from a CDK bootstrap template."""
    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(path))
    parameters = {name: spec.get("Default", "") for name, spec in template["Parameters"].items()}
    parameters.update({"Qualifier": qualifier, "AWS::AccountId": ACCOUNT, "AWS::Region": REGION,
                       "AWS::Partition": PARTITION, "AWS::URLSuffix": "amazonaws.com"})
    names = {"StagingBucket": f"cdk-{qualifier}-assets-{ACCOUNT}-{REGION}",
             "ContainerAssetsRepository": f"cdk-{qualifier}-container-assets-{ACCOUNT}-{REGION}",
             "FileAssetsBucketEncryptionKey": "key-id",
             "CdkBootstrapVersion": f"/cdk-bootstrap/{qualifier}/version"}

    def arn_of(logical: str) -> str:
        resource = template["Resources"].get(logical, {})
        if resource.get("Type") == "AWS::IAM::Role":
            return f"arn:{PARTITION}:iam::{ACCOUNT}:role/{resolve(resource['Properties']['RoleName'])}"
        if resource.get("Type") == "AWS::ECR::Repository":
            return f"arn:{PARTITION}:ecr:{REGION}:{ACCOUNT}:repository/{names[logical]}"
        if resource.get("Type") == "AWS::KMS::Key":
            return f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{names[logical]}"
        return f"arn:{PARTITION}:s3:::{names.get(logical, logical)}"

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "Fn::Sub" in node:
                text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
                def value(match: "re.Match[str]") -> str:
                    key = match.group(1)
                    if key.endswith(".Arn"):
                        return arn_of(key[:-4])
                    return str(parameters.get(key, names.get(key, key)))
                return re.sub(r"\$\{([^}]+)\}", value, text)
            if "Ref" in node:
                return parameters.get(node["Ref"], names.get(node["Ref"], node["Ref"]))
            if "Fn::If" in node:
                return resolve(node["Fn::If"][2])  # the defaults: no trusted accounts, no boundary...
            if "Fn::GetAtt" in node:
                return arn_of(node["Fn::GetAtt"][0])
            return {key: resolve(child) for key, child in node.items()}
        if isinstance(node, list):
            return [resolve(child) for child in node if not (isinstance(child, str) and child == "AWS::NoValue")]
        return node

    roles: Dict[str, Dict[str, Any]] = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            documents = [resolve(policy["PolicyDocument"]) for policy in resource["Properties"].get("Policies", [])]
            managed = resolve(resource["Properties"].get("ManagedPolicyArns", []))
            managed = [arn for arn in (managed if isinstance(managed, list) else [managed]) if isinstance(arn, str)]
            roles[logical] = {"documents": documents, "managed": managed}
        if resource["Type"] == "AWS::IAM::Policy":
            for role in resource["Properties"]["Roles"]:
                roles.setdefault(role["Ref"], {"documents": [], "managed": []})["documents"].append(
                    resolve(resource["Properties"]["PolicyDocument"]))
    return roles


def role_allows(role: Dict[str, Any], action: str, resource: str) -> bool:
    """IAM's evaluation of the role's inline policies (moto's implementation of it)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    results = [IAMPolicy(json.dumps(document)).is_action_permitted(action, resource) for document in role["documents"]]
    if PermissionResult.DENIED in results:
        return False
    if PermissionResult.PERMITTED in results:
        return True
    return any(arn.endswith(":policy/AdministratorAccess") for arn in role["managed"])


def ssm_typed_parameters(templates: Templates) -> List[Tuple[str, str]]:
    """``(stack, parameter name)`` of every AWS::SSM::Parameter::Value<...> template parameter."""
    return [(stack, spec["Default"]) for stack, template in templates.items()
            for spec in template.get("Parameters", {}).values()
            if spec["Type"].startswith("AWS::SSM::Parameter::Value<")]


def ssm_parameter_arn(name: str) -> str:
    return f"arn:{PARTITION}:ssm:{REGION}:{ACCOUNT}:parameter/{name.lstrip('/')}"


# ---- live results (issue #26) ------------------------------------------------------------------
def _shape_violations(service: str, shape_name: str, value: Any, where: str) -> List[str]:
    """``value`` against a botocore shape's min / max / pattern (what the service validates)."""
    import botocore.session

    metadata = botocore.session.get_session().get_service_model(service).shape_for(shape_name).metadata
    if not isinstance(value, (str, int)):
        return []  # a reference: resolved at deploy time
    size = len(value) if isinstance(value, str) else value
    found = []
    if "min" in metadata and size < metadata["min"] or "max" in metadata and size > metadata["max"]:
        found.append(f"{where}: {value!r} outside {service} {shape_name}'s {metadata.get('min')}..{metadata.get('max')}")
    if isinstance(value, str) and "pattern" in metadata and not re.fullmatch(metadata["pattern"], value):
        found.append(f"{where}: {value!r} does not match {service} {shape_name}'s pattern {metadata['pattern']}")
    return found


def _glue_tables(templates: Templates) -> Dict[Tuple[str, str], Dict[str, Any]]:
    return {(r["Properties"]["DatabaseName"], r["Properties"]["TableInput"]["Name"]): r
            for _, _, r in resources_of(templates, "AWS::Glue::Table")}


#: Athena (Hive DDL) names: lower case letters, digits and underscores ("Names for tables,
#: databases, and columns"); upper case is folded and breaks Firehose's schema lookup.
ATHENA_NAME = re.compile(r"[a-z0-9_]{1,255}")
#: EventBridge's rate syntax ("Schedule expressions for rules"): a positive whole number, the
#: unit singular for 1, plural otherwise.
RATE = re.compile(r"rate\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\)")


def results_violations(templates: Templates) -> List[str]:
    """What Firehose, Glue, Athena, CloudWatch and EventBridge check when they create the results'
    resources: Firehose's format conversion reads an existing Glue table with its own role
    (glue:GetTable*), needs a buffer of at least 64 MiB and an uncompressed input to S3;
    Athena's cutoff has a 10 MB minimum and a named query names an existing database;
    the dashboard body is JSON with widgets; schedules follow the rate syntax."""
    found: List[str] = []
    tables = _glue_tables(templates)
    databases = {r["Properties"]["DatabaseInput"]["Name"] for _, _, r in resources_of(templates, "AWS::Glue::Database")}
    for (database, table), resource in tables.items():
        if not ATHENA_NAME.fullmatch(database) or not ATHENA_NAME.fullmatch(table):
            found.append(f"Glue {database}.{table}: Athena names are lower case letters, digits and underscores")
        if database not in databases:
            found.append(f"Glue table {table}: its database {database} is not in the app")
        for column in resource["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]:
            if not ATHENA_NAME.fullmatch(column["Name"]):
                found.append(f"Glue {table}: column {column['Name']!r} is not an Athena name")
    for stack, logical, resource in resources_of(templates, "AWS::KinesisFirehose::DeliveryStream"):
        props = resource["Properties"]
        where = f"{stack}/{logical}"
        found += _shape_violations("firehose", "DeliveryStreamName", props.get("DeliveryStreamName", "x"), where)
        s3 = props["ExtendedS3DestinationConfiguration"]
        hints = s3.get("BufferingHints", {})
        found += _shape_violations("firehose", "SizeInMBs", hints.get("SizeInMBs", 5), where)
        found += _shape_violations("firehose", "IntervalInSeconds", hints.get("IntervalInSeconds", 300), where)
        for key in ("Prefix", "ErrorOutputPrefix"):
            found += _shape_violations("firehose", key, s3.get(key, ""), where)
        conversion = s3.get("DataFormatConversionConfiguration")
        if not conversion or not conversion.get("Enabled"):
            continue
        if hints.get("SizeInMBs", 5) < 64:
            found.append(f"{where}: format conversion needs a buffer of at least 64 MiB")
        if s3.get("CompressionFormat", "UNCOMPRESSED") != "UNCOMPRESSED":
            found.append(f"{where}: format conversion needs CompressionFormat UNCOMPRESSED")
        if "!{" in s3.get("Prefix", "") and not s3.get("ErrorOutputPrefix"):
            found.append(f"{where}: a Prefix with expressions needs an ErrorOutputPrefix")
        schema = conversion["SchemaConfiguration"]
        if (schema["DatabaseName"], schema["TableName"]) not in tables:
            found.append(f"{where}: format conversion reads {schema['DatabaseName']}.{schema['TableName']}, not in the app")
        role = resolve_logical(templates, stack, schema["RoleARN"])
        policies = [r for _, _, r in resources_of(templates, "AWS::IAM::Policy")
                    if role and any(ref.get("Ref") == role[1] for ref in r["Properties"]["Roles"])]
        actions = {a for p in policies for s in _statements(p["Properties"]["PolicyDocument"]) for a in _as_list(s["Action"])}
        missing = {"glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"} - actions
        if missing:
            found.append(f"{where}: its role lacks {sorted(missing)} (format conversion reads the table's schema)")
        policy_ids = {k for k, r in templates[stack]["Resources"].items() if r in policies}
        if not policy_ids & _depends_on(templates[stack], logical):
            found.append(f"{where}: created before its role's policy (Firehose checks the role at creation)")
    for stack, logical, resource in resources_of(templates, "AWS::Athena::WorkGroup"):
        props = resource["Properties"]
        found += _shape_violations("athena", "WorkGroupName", props["Name"], f"{stack}/{logical}")
        config = props.get("WorkGroupConfiguration", {})
        if "BytesScannedCutoffPerQuery" in config:
            found += _shape_violations("athena", "BytesScannedCutoffValue", config["BytesScannedCutoffPerQuery"], f"{stack}/{logical}")
    for stack, logical, resource in resources_of(templates, "AWS::Athena::NamedQuery"):
        props = resource["Properties"]
        where = f"{stack}/{logical}"
        found += _shape_violations("athena", "DatabaseString", props["Database"], where)
        found += _shape_violations("athena", "QueryString", props["QueryString"], where)
        found += _shape_violations("athena", "NameString", props["Name"], where)
        if props["Database"] not in databases:
            found.append(f"{where}: database {props['Database']} is not in the app")
    for stack, logical, resource in resources_of(templates, "AWS::CloudWatch::Dashboard"):
        body = resource["Properties"]["DashboardBody"]
        text = "".join(p if isinstance(p, str) else "TOKEN" for p in body["Fn::Join"][1]) if isinstance(body, dict) else body
        try:
            widgets = json.loads(text).get("widgets")
        except ValueError as exc:
            found.append(f"{stack}/{logical}: the dashboard body is not JSON ({exc})")
            continue
        if not widgets:
            found.append(f"{stack}/{logical}: a dashboard without widgets")
    for stack, logical, resource in resources_of(templates, "AWS::Events::Rule"):
        expression = resource["Properties"].get("ScheduleExpression")
        if expression and expression.startswith("rate(") and not RATE.fullmatch(expression):
            found.append(f"{stack}/{logical}: {expression!r} is not EventBridge's rate syntax")
    return found
