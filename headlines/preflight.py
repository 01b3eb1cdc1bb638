"""``headlines preflight``: read-only checks of an AWS account before anything is deployed.

Each check is a function over injected boto3 clients (``Clients``) and the ``HeadlinesConfig``
of the deploy (cdk.json with the same ``-c`` overrides ``cdk deploy`` gets). It returns
``Result``s: ``ok``; ``fail`` with its fix (a command, or a cdk.json / ``-c`` setting);
``unknown`` when the check cannot be made (a read API denied, or one the endpoint does not
implement: reported, never a failure); ``info``. Nothing here writes to the account.

The checks, in the order a deploy meets them:

- the CDK bootstrap (stack ``CDKToolkit``, its version parameter against what the app needs);
- the CDK deploy role may read the serving stack's SSM-typed template parameter;
- the SageMaker service quotas of every configured instance type (and serverless concurrency);
- the container images exist for the region (the SageMaker SDK's offline table);
- API Gateway's account-wide CloudWatch logging role;
- the notebook's git repository can be cloned anonymously (when one is configured);
- the classifier job's runtime limit (information only).

The command line (headlines/cli/preflight.py) prints them; docs/preflight.md describes them.
"""
from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Type

from headlines import iam_policy
from headlines.config import HeadlinesConfig
from headlines.images import IMAGE_NAMES, ImageProps, resolve_image
from headlines.naming import pipeline_stack_name, serving_model_parameter, serving_stack_name

OK, FAIL, UNKNOWN, INFO = "ok", "fail", "unknown", "info"

#: The CDK bootstrap stack and its qualifier: the CDK's defaults, which the app's default stack
#: synthesizer uses (cdk.json sets no ``@aws-cdk/core:bootstrapQualifier``).
BOOTSTRAP_STACK = "CDKToolkit"
BOOTSTRAP_QUALIFIER = "hnb659fds"
BOOTSTRAP_VERSION_PARAMETER = f"/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version"
#: The largest ``requiresBootstrapStackVersion`` of the synthesized cloud assembly (its stacks and
#: asset manifests need 6, the lookup role 8); tests/infra/test_infra_preflight.py synthesizes
#: the app and keeps this equal to it.
REQUIRED_BOOTSTRAP_VERSION = 8
BOOTSTRAP_FIX = "make bootstrap"
# cdk bootstrap keeps a bootstrap stack of another variant (CDK's default one) and only warns,
# unless --force: make bootstrap FORCE=1 replaces it with the project's template.
DEPLOY_ROLE_FIX = "make bootstrap FORCE=1 (the project's bootstrap template; FORCE replaces CDK's default one)"

#: The SSM call CloudFormation makes to resolve an ``AWS::SSM::Parameter::Value<...>`` template
#: parameter (the bootstrap template's ``ReadVersion`` statement says so: "CreateChangeSet uses
#: this to evaluate any SSM parameters").
RESOLVE_ACTION = "ssm:GetParameters"

SAGEMAKER_SERVICE_CODE = "sagemaker"
#: Service Quotas' name of the account's serverless concurrency (L-96300102 in us-east-1).
SERVERLESS_CONCURRENCY_QUOTA = "Maximum total concurrency that can be allocated across all serverless endpoints"

LOGGING_ROLE_FIX = (
    "set it once per account and region: aws apigateway update-account --patch-operations "
    "op=replace,path=/cloudwatchRoleArn,value=<role arn> (a role trusting apigateway.amazonaws.com with the "
    "AmazonAPIGatewayPushToCloudWatchLogs managed policy), or deploy with -c headlines.api.logging_role=create"
)

GIT_PROBE_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Result:
    """One line of the preflight: what was checked, how it went, and how to fix a failure."""

    check: str  # bootstrap, deploy-role, quota, image, api-logging-role, notebook-repository, training-time
    status: str  # OK, FAIL, UNKNOWN or INFO
    message: str
    fix: Optional[str] = None
    details: Dict[str, Any] = field(default_factory=dict)


def _ok(check: str, message: str, **details: Any) -> Result:
    return Result(check, OK, message, details=details)


def _fail(check: str, message: str, fix: str, **details: Any) -> Result:
    return Result(check, FAIL, message, fix, details=details)


def _unknown(check: str, what: str, reason: str, **details: Any) -> Result:
    return Result(check, UNKNOWN, f"could not check {what}: {reason}", details=details)


@dataclass(frozen=True)
class Account:
    """Where the deploy goes: the caller's account, its partition and the region."""

    account_id: str
    partition: str
    region: str
    caller_arn: str = ""

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account_id}:{resource}"


@dataclass
class Clients:
    """The boto3 clients the checks read with (one session, one region); injectable for tests."""

    sts: Any
    cloudformation: Any
    ssm: Any
    iam: Any
    service_quotas: Any
    apigateway: Any

    @classmethod
    def from_session(cls, session: Any, config: Any = None) -> "Clients":
        def client(name: str) -> Any:
            return session.client(name, config=config)

        return cls(sts=client("sts"), cloudformation=client("cloudformation"), ssm=client("ssm"), iam=client("iam"),
                   service_quotas=client("service-quotas"), apigateway=client("apigateway"))


def identify(sts: Any) -> Account:
    """The caller's account (``sts:GetCallerIdentity``). Its failures (no credentials, expired or
    invalid ones) propagate: the command line words them as one ``error:`` line."""
    identity = sts.get_caller_identity()
    arn = identity.get("Arn", "")
    partition = arn.split(":")[1] if arn.count(":") >= 5 else "aws"
    return Account(account_id=identity["Account"], partition=partition, region=sts.meta.region_name, caller_arn=arn)


# ---- reading the account: every failure of a read becomes Unreadable ---------------------------

class Unreadable(Exception):
    """A read a check needs failed: denied, not implemented by the endpoint, unreachable."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        self.operation, self.code, self.message = operation, code, message
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        return f"{self.operation}: {self.code + ': ' if self.code else ''}{self.message}"


def _unreadable(operation: str, error: BaseException) -> Unreadable:
    from botocore.exceptions import ClientError, EndpointConnectionError
    from botocore.parsers import ResponseParserError

    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        code, message = str(detail.get("Code", "")), str(detail.get("Message", "")).strip()
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if message.startswith("<") or not message:  # an HTML error page: an emulator's unimplemented API
            return Unreadable(operation, "", f"the endpoint answered HTTP {status} (not implemented there?)")
        return Unreadable(operation, code, message if len(message) <= 200 else message[:197] + "...")
    if isinstance(error, ResponseParserError):
        return Unreadable(operation, "", "the endpoint's answer is not AWS's format (not implemented there?)")
    if isinstance(error, EndpointConnectionError):
        return Unreadable(operation, "", str(error))
    return Unreadable(operation, type(error).__name__, (str(error).splitlines() or [""])[0])


def _read_errors() -> Tuple[Type[BaseException], ...]:
    """What a read can raise: botocore's errors (ResponseParserError is not a BotoCoreError: an
    endpoint's HTML error page, where an emulator lacks the API, in place of an XML answer)."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    return ClientError, BotoCoreError, ResponseParserError


def _read(call: Callable[..., Dict[str, Any]], **kwargs: Any) -> Dict[str, Any]:
    try:
        return call(**kwargs)
    except _read_errors() as error:
        raise _unreadable(getattr(call, "__name__", "call"), error) from None


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> List[Any]:
    try:
        items: List[Any] = []
        for page in client.get_paginator(operation).paginate(**kwargs):
            items.extend(page.get(key, []))
        return items
    except _read_errors() as error:
        raise _unreadable(operation, error) from None


# ---- 1. the CDK bootstrap ----------------------------------------------------------------------

_SETTLED = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE")


def check_bootstrap(clients: Clients, account: Account, required: int = REQUIRED_BOOTSTRAP_VERSION) -> Result:
    where = f"aws://{account.account_id}/{account.region}"
    try:
        stacks = _read(clients.cloudformation.describe_stacks, StackName=BOOTSTRAP_STACK).get("Stacks", [])
    except Unreadable as error:
        if error.code == "ValidationError" and "does not exist" in error.message:
            stacks = []
        else:
            return _unknown("bootstrap", f"the CDK bootstrap stack {BOOTSTRAP_STACK}", error.reason)
    if not stacks:
        return _fail("bootstrap", f"{where} is not bootstrapped for the CDK (no stack {BOOTSTRAP_STACK})", BOOTSTRAP_FIX)
    stack = stacks[0]
    status = stack.get("StackStatus", "")
    if status.endswith("_IN_PROGRESS"):
        return _unknown("bootstrap", f"the CDK bootstrap stack {BOOTSTRAP_STACK}", f"it is {status}; run again when it is done")
    if status not in _SETTLED:
        return _fail("bootstrap", f"the CDK bootstrap stack {BOOTSTRAP_STACK} is {status}",
                     f"delete it (aws cloudformation delete-stack --stack-name {BOOTSTRAP_STACK}), then {BOOTSTRAP_FIX}")
    source = BOOTSTRAP_VERSION_PARAMETER
    try:
        value = str(_read(clients.ssm.get_parameter, Name=BOOTSTRAP_VERSION_PARAMETER)["Parameter"]["Value"])
    except Unreadable as error:
        if error.code == "ParameterNotFound":
            return _fail("bootstrap", f"{BOOTSTRAP_STACK} has no {BOOTSTRAP_VERSION_PARAMETER} (bootstrapped with another "
                                      f"qualifier than the CDK's default {BOOTSTRAP_QUALIFIER}?)", BOOTSTRAP_FIX)
        # The stack's own output says the same (the bootstrap template duplicates it there).
        outputs = {o.get("OutputKey"): o.get("OutputValue") for o in stack.get("Outputs") or []}
        if "BootstrapVersion" not in outputs:
            return _unknown("bootstrap", f"the CDK bootstrap version ({BOOTSTRAP_VERSION_PARAMETER})", error.reason)
        value, source = str(outputs["BootstrapVersion"]), f"{BOOTSTRAP_STACK}'s output BootstrapVersion ({error.reason})"
    try:
        version = int(value)
    except ValueError:
        return _unknown("bootstrap", "the CDK bootstrap version", f"{source} is {value!r}, not a number")
    details = dict(stack=BOOTSTRAP_STACK, stack_status=status, version=version, required=required)
    if version < required:
        return _fail("bootstrap", f"the CDK bootstrap of {where} is version {version}; the app needs {required} or later",
                     f"{BOOTSTRAP_FIX} FORCE=1 (upgrades {BOOTSTRAP_STACK} in place; FORCE replaces CDK's default template)", **details)
    return _ok("bootstrap", f"CDK bootstrap: {BOOTSTRAP_STACK} ({status}), version {version} >= {required} (from {source})",
               **details)


# ---- 2. the CDK deploy role resolves the serving stack's SSM parameter --------------------------
#
# The contract: CloudFormation resolves a template parameter of type
# ``AWS::SSM::Parameter::Value<String>`` during CreateChangeSet with the credentials of the caller,
# which for ``cdk deploy`` is the bootstrap's deploy role; it calls ssm:GetParameters (the pinned
# bootstrap template's ``ReadVersion`` statement: "CreateChangeSet uses this to evaluate any SSM
# parameters", allowed there on the bootstrap version parameter only; aws/aws-cdk#20959). The
# serving stack reads the approved model that way (infra/serving.py), so the deploy role needs
# ssm:GetParameters on that parameter too: the project's bootstrap template adds it.

def deploy_role_name(account: Account) -> str:
    return f"cdk-{BOOTSTRAP_QUALIFIER}-deploy-role-{account.account_id}-{account.region}"


class RoleMissing(Exception):
    pass


def _managed_policy(iam: Any, arn: str) -> Tuple[str, Any]:
    version = _read(iam.get_policy, PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = _read(iam.get_policy_version, PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return arn.rsplit("/", 1)[-1], document


def role_decision(iam: Any, role_name: str, action: str, resource: str) -> iam_policy.Decision:
    """Read a role's inline and attached policies (and its permissions boundary) and evaluate
    them (headlines/iam_policy.py); RoleMissing when there is no such role, Unreadable when a
    policy cannot be read."""
    try:
        role = _read(iam.get_role, RoleName=role_name)["Role"]
    except Unreadable as error:
        if error.code == "NoSuchEntity":
            raise RoleMissing(role_name) from None
        raise
    policies: List[Tuple[str, Any]] = []
    for policy_name in _pages(iam, "list_role_policies", "PolicyNames", RoleName=role_name):
        inline = _read(iam.get_role_policy, RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
        policies.append((str(policy_name), inline))
    for attached in _pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role_name):
        policies.append(_managed_policy(iam, attached["PolicyArn"]))
    boundary_arn = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    boundary = _managed_policy(iam, boundary_arn) if boundary_arn else None
    for name, document in policies + ([boundary] if boundary else []):
        try:
            iam_policy.policy_document(document)
        except ValueError:
            raise Unreadable(f"the policy {name} of {role_name}", "", "its document is not JSON") from None
    return iam_policy.evaluate(policies, action, resource, boundary)


def _simulated(result: Mapping[str, Any]) -> iam_policy.Decision:
    """IAM's simulation result for the one action and resource, with what denied it."""
    missing_context = result.get("MissingContextValues") or []
    denied_by = None
    if (result.get("OrganizationsDecisionDetail") or {}).get("AllowedByOrganizations") is False:
        denied_by = "organization"
    elif (result.get("PermissionsBoundaryDecisionDetail") or {}).get("AllowedByPermissionsBoundary") is False:
        denied_by = "boundary"
    notes = (f"conditions on {', '.join(missing_context)} not evaluated",) if missing_context else ()
    return iam_policy.Decision(result["EvalDecision"], notes, denied_by)


def check_deploy_role(clients: Clients, account: Account, cfg: HeadlinesConfig) -> Result:
    parameter = serving_model_parameter(cfg)
    role = deploy_role_name(account)
    role_arn = account.arn("iam", f"role/{role}", region=False)
    resource = account.arn("ssm", f"parameter{parameter}")
    details = dict(role=role_arn, action=RESOLVE_ACTION, resource=resource)
    denied = (f"the CDK deploy role cannot read SSM parameter {parameter}, which CloudFormation resolves with it "
              f"when deploying {serving_stack_name(cfg)}")
    missing = _fail("deploy-role", f"the CDK deploy role {role} does not exist (not bootstrapped, or with another "
                                   f"qualifier than {BOOTSTRAP_QUALIFIER})", BOOTSTRAP_FIX, **details)
    try:
        simulated = _read(clients.iam.simulate_principal_policy, PolicySourceArn=role_arn,
                          ActionNames=[RESOLVE_ACTION], ResourceArns=[resource])
        results = simulated.get("EvaluationResults") or []
        if not results:
            raise Unreadable("simulate_principal_policy", "", "no evaluation result")
        decision = _simulated(results[0])
        how = "iam:SimulatePrincipalPolicy"
    except Unreadable as error:
        if error.code == "NoSuchEntity":
            return missing
        # Denied or not implemented: read the role's policies and evaluate them here.
        try:
            decision = role_decision(clients.iam, role, RESOLVE_ACTION, resource)
        except RoleMissing:
            return missing
        except Unreadable as unread:
            return _unknown("deploy-role", f"whether the CDK deploy role may call {RESOLVE_ACTION} on {parameter}",
                            f"{error.reason}; and {unread.reason}", **details)
        how = f"its policies, read and evaluated here as {error.operation} failed: {error.code or error.message}; SCPs not seen"
    notes = "".join(f"; {note}" for note in decision.notes)
    if not decision.allowed:
        fix = DEPLOY_ROLE_FIX
        if decision.denied_by == "organization":
            denied += " (a service control policy of the organization denies it)"
            fix = f"ask the organization's administrators to allow {RESOLVE_ACTION} on {resource} for {role}"
        elif decision.denied_by == "boundary":
            denied += " (outside the role's permissions boundary)"
            fix = (f"a permissions boundary that allows {RESOLVE_ACTION} on {resource}: make bootstrap with "
                   "cdk bootstrap's --custom-permissions-boundary")
        return _fail("deploy-role", denied, fix, decision=decision.decision, **details)
    return _ok("deploy-role", f"CDK deploy role {role} may call {RESOLVE_ACTION} on {parameter} ({how}{notes})",
               decision=decision.decision, **details)


# ---- 3. SageMaker service quotas --------------------------------------------------------------

@dataclass(frozen=True)
class QuotaNeed:
    """A SageMaker quota (by Service Quotas' name) the configuration needs, and how much."""

    name: str
    need: int
    users: Tuple[str, ...]
    alternative: str  # the setting that avoids the quota increase


def quota_needs(cfg: HeadlinesConfig) -> List[QuotaNeed]:
    """The quotas of every configured instance type, by Service Quotas' names.

    The pipeline runs its training jobs one after another, never at once: a type shared by the
    embeddings and the classifier jobs needs the larger count, not the sum. The endpoint needs
    its largest fleet (autoscaling's max_capacity); an update of the endpoint config (a new
    model) is blue/green, so it briefly runs the new fleet beside the old one: that is not
    counted here.
    """
    needs: Dict[str, Tuple[int, List[str], List[str]]] = {}

    def add(name: str, count: int, user: str, setting: str) -> None:
        need, users, settings = needs.setdefault(name, (0, [], []))
        needs[name] = (max(need, count), users + [user], settings + [setting])

    embeddings, classifier = cfg.embeddings, cfg.classifier
    add(f"{embeddings.instance_type} for training job usage", embeddings.instance_count,
        f"the embeddings job, {embeddings.instance_count} instance(s)", "headlines.embeddings.instance_type")
    add(f"{classifier.training_instance_type} for training job usage", 1, "the classifier job",
        "headlines.classifier.gpu_instance_type" if classifier.gpu else "headlines.classifier.instance_type")
    serving = cfg.serving
    if serving.mode == "instance":
        fleet = max(serving.initial_instance_count, serving.autoscaling.max_capacity if serving.autoscaling else 0)
        add(f"{serving.instance_type} for endpoint usage", fleet, f"the endpoint, {fleet} instance(s) at most",
            "headlines.serving.instance_type")
    else:
        add(SERVERLESS_CONCURRENCY_QUOTA, serving.serverless_max_concurrency,
            f"the serverless endpoint's max concurrency {serving.serverless_max_concurrency}",
            "headlines.serving.serverless_max_concurrency")
    if cfg.notebook.enabled:
        add(f"{cfg.notebook.instance_type} for notebook instance usage", 1, "the notebook instance",
            "headlines.notebook.instance_type")
    return [QuotaNeed(name, need, tuple(users), " or ".join(f"-c {s}=..." for s in dict.fromkeys(settings)))
            for name, (need, users, settings) in needs.items()]


def _number(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number)


def check_quotas(clients: Clients, account: Account, cfg: HeadlinesConfig) -> List[Result]:
    needs = quota_needs(cfg)
    try:
        applied = {q["QuotaName"]: q for q in _pages(clients.service_quotas, "list_service_quotas", "Quotas",
                                                      ServiceCode=SAGEMAKER_SERVICE_CODE)}
    except Unreadable as error:
        return [_unknown("quota", f"the SageMaker quota '{need.name}' (needs {need.need})", error.reason, quota=need.name)
                for need in needs]
    defaults: Dict[str, Dict[str, Any]] = {}
    defaults_error: Optional[Unreadable] = None
    if any(need.name not in applied for need in needs):
        # Service Quotas lists an applied value only where it has one; the default otherwise.
        try:
            defaults = {q["QuotaName"]: q for q in _pages(clients.service_quotas, "list_aws_default_service_quotas",
                                                           "Quotas", ServiceCode=SAGEMAKER_SERVICE_CODE)}
        except Unreadable as error:
            defaults_error = error
    return [_quota_result(need, applied, defaults, defaults_error, account) for need in needs]


def _quota_result(need: QuotaNeed, applied: Mapping[str, Dict[str, Any]], defaults: Mapping[str, Dict[str, Any]],
                  defaults_error: Optional[Unreadable], account: Account) -> Result:
    users = "; ".join(need.users)
    quota, source = applied.get(need.name), ""
    if quota is None:
        quota, source = defaults.get(need.name), " (the account's default: no applied value listed)"
    if quota is None:
        if defaults_error is not None:
            return _unknown("quota", f"the SageMaker quota '{need.name}' (needs {need.need})",
                            f"not among the applied quotas, and {defaults_error.reason}", quota=need.name)
        return _fail("quota", f"no SageMaker quota '{need.name}' in {account.region}: not available in {account.region}",
                     f"choose what {account.region} offers ({need.alternative}), or deploy to another region (--region)",
                     quota=need.name, need=need.need)
    code, value = quota.get("QuotaCode", "?"), float(quota.get("Value", 0.0))
    details = dict(quota=need.name, quota_code=code, value=value, need=need.need)
    if value >= need.need:
        return _ok("quota", f"quota {code} {need.name}: {_number(value)}, needs {need.need} ({users}){source}", **details)
    return _fail("quota", f"quota {code} {need.name} is {_number(value)}{source}, needs {need.need} ({users})",
                 f"request {need.need} in the Service Quotas console (Amazon SageMaker, {code}) or: aws service-quotas "
                 f"request-service-quota-increase --service-code {SAGEMAKER_SERVICE_CODE} --quota-code {code} "
                 f"--desired-value {need.need} --region {account.region}; or {need.alternative}", **details)


# ---- 4. the container images ------------------------------------------------------------------

def image_props(cfg: HeadlinesConfig) -> ImageProps:
    """What picks the images; the same as infra/stacks.py's (a test keeps them equal)."""
    return ImageProps(
        framework_version=cfg.classifier.framework_version,
        py_version=cfg.classifier.py_version,
        training_instance_type=cfg.classifier.training_instance_type,
        inference_instance_type=cfg.serving.instance_type,
    )


def _image_label(name: str, props: ImageProps) -> str:
    return {
        "blazingtext": "BlazingText (the embeddings job)",
        "mxnet_training": f"MXNet {props.framework_version} {props.py_version} training on {props.training_instance_type}",
        "mxnet_inference": f"MXNet {props.framework_version} {props.py_version} inference",
    }[name]


def check_images(cfg: HeadlinesConfig, region: str) -> List[Result]:
    """The image URIs the stacks will use, from the SageMaker SDK's offline table (the same
    lookup as ``cdk synth``): a region without one of them is a failure before any deploy."""
    props = image_props(cfg)
    results = []
    for name in IMAGE_NAMES:
        label = _image_label(name, props)
        try:
            uri = resolve_image(name, props, region)
        except ImportError as error:
            results.append(_unknown("image", f"the image {label}",
                                    f"the SageMaker SDK's image table is not installed ({error.name}: pip install "
                                    f"'headlines-mlops[cdk]')", image=name))
            continue
        except ValueError as error:
            first = str(error).split(". ")[0].rstrip(".")
            fix = "deploy to a region that has it (--region; cdk deploy's region)"
            if name == "mxnet_training" and cfg.classifier.gpu:
                fix += ", or train on CPU: -c headlines.classifier.gpu=false"
            results.append(_fail("image", f"no image {label} in {region} (SageMaker SDK's table: {first})", fix, image=name))
            continue
        results.append(_ok("image", f"image {label}: {uri}", image=name, uri=uri))
    return results


# ---- 5. API Gateway's CloudWatch logging role --------------------------------------------------

def check_api_logging_role(clients: Clients, account: Account, cfg: HeadlinesConfig) -> Result:
    """The serving stack turns on the API's access and execution logging, which API Gateway
    refuses (and the deploy fails) while its account-wide setting names no CloudWatch role."""
    what = "API Gateway's CloudWatch logging role"
    try:
        role_arn = _read(clients.apigateway.get_account).get("cloudwatchRoleArn")
    except Unreadable as error:
        return _unknown("api-logging-role", what, error.reason)
    details = dict(cloudwatch_role_arn=role_arn, logging_role=cfg.api.logging_role)
    if cfg.api.logging_role == "create":
        return _ok("api-logging-role", f"{what}: the serving stack creates and sets one (api.logging_role=create; "
                                       f"set now: {role_arn or 'none'})", **details)
    if not role_arn:
        return _fail("api-logging-role", f"{what} is not set in {account.region}; the serving stack's API logging needs it "
                                         "(api.logging_role=existing)", LOGGING_ROLE_FIX, **details)
    parts = role_arn.split(":")
    role_account, role_name = (parts[4] if len(parts) > 5 else ""), role_arn.rsplit("/", 1)[-1]
    if role_account != account.account_id:
        return _ok("api-logging-role", f"{what}: {role_arn} (in another account: not looked up)", **details)
    try:
        _read(clients.iam.get_role, RoleName=role_name)
    except Unreadable as error:
        if error.code == "NoSuchEntity":
            return _fail("api-logging-role", f"{what} {role_arn} does not exist", LOGGING_ROLE_FIX, **details)
        return _ok("api-logging-role", f"{what}: {role_arn} (that the role exists was not verified: {error.reason})",
                   **details)
    return _ok("api-logging-role", f"{what}: {role_arn}", **details)


# ---- 6. the notebook's repository --------------------------------------------------------------

#: ``opener(request, timeout)`` returns a response with ``.status`` (a context manager), or raises
#: urllib.error.HTTPError / URLError: urllib.request.urlopen's contract; tests inject their own.
Opener = Callable[[urllib.request.Request, float], Any]


def _urlopen(request: urllib.request.Request, timeout: float) -> Any:
    return urllib.request.urlopen(request, timeout=timeout)


def check_notebook_repository(cfg: HeadlinesConfig, opener: Optional[Opener] = None,
                              timeout: float = GIT_PROBE_TIMEOUT_SECONDS) -> List[Result]:
    """An anonymous git smart-HTTP discovery request (what ``git clone`` sends first)."""
    url = cfg.notebook.repository_url
    if not cfg.notebook.enabled or not url:
        return []
    what = f"the notebook repository {url}"
    if not url.startswith("https://"):
        return [_unknown("notebook-repository", what, "not an HTTPS URL")]
    probe = url.rstrip("/") + "/info/refs?service=git-upload-pack"
    request = urllib.request.Request(probe, headers={"User-Agent": "git/2 (headlines preflight)"}, method="GET")
    try:
        with (opener or _urlopen)(request, timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError, ValueError) as error:
        return [_unknown("notebook-repository", what, str(getattr(error, "reason", error)))]
    if status == 200:
        return [_ok("notebook-repository", f"notebook repository {url}: clonable anonymously (HTTP 200)", status=status)]
    if status in (401, 403, 404):
        return [_fail("notebook-repository",
                      f"{what} cannot be cloned anonymously (HTTP {status}): SageMaker clones it when it creates the "
                      "instance; a failed clone rolls back the pipeline stack",
                      "make it public, or point to one that is: -c headlines.notebook.repository_url=https://...; "
                      "or -c headlines.notebook.enabled=false", status=status)]
    return [_unknown("notebook-repository", what, f"HTTP {status}")]


# ---- 7. the classifier's runtime limit (information) -------------------------------------------

def training_time(cfg: HeadlinesConfig) -> Result:
    classifier = cfg.classifier
    instance = classifier.training_instance_type
    try:
        limit = classifier.runtime_limit_seconds
        if classifier.max_runtime_seconds is not None:
            how = "classifier.max_runtime_seconds"
        else:
            from headlines.training_time import RUNTIME_MARGIN, worst_case_seconds

            worst = worst_case_seconds(classifier.data_rows, classifier.hyperparameters, instance)
            how = (f"the worst case these hyperparameters allow, every member's whole epoch budget and the refit: "
                   f"{worst / 3600:.1f} h, x {RUNTIME_MARGIN:g} margin; headlines/training_time.py")
        execution = cfg.pipeline_timeout_minutes
    except (ValueError, ImportError) as error:
        return _unknown("training-time", "the classifier job's runtime limit", str(error))
    return Result("training-time", INFO,
                  f"classifier training job: MaxRuntimeInSeconds {limit} s ({limit / 3600:.1f} h) on {instance}, sized "
                  f"for {classifier.data_rows:,} data rows ({how}); the pipeline's timeout {execution} min",
                  details=dict(max_runtime_seconds=limit, data_rows=classifier.data_rows, instance_type=instance,
                               pipeline_timeout_minutes=execution))


# ---- all of them -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Report:
    account: Account
    stacks: Tuple[str, ...]
    results: Tuple[Result, ...]

    def count(self, status: str) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def exit_status(self) -> int:
        """1 when something would fail the deploy, else 0 (``unknown`` is no failure)."""
        return 1 if self.count(FAIL) else 0


def run_checks(clients: Clients, account: Account, cfg: HeadlinesConfig, opener: Optional[Opener] = None) -> Report:
    results: List[Result] = [check_bootstrap(clients, account), check_deploy_role(clients, account, cfg)]
    results += check_quotas(clients, account, cfg)
    results += check_images(cfg, account.region)
    results.append(check_api_logging_role(clients, account, cfg))
    results += check_notebook_repository(cfg, opener)
    results.append(training_time(cfg))
    return Report(account, (pipeline_stack_name(cfg), serving_stack_name(cfg)), tuple(results))


def as_json(report: Report) -> Dict[str, Any]:
    return {
        "account": report.account.account_id,
        "partition": report.account.partition,
        "region": report.account.region,
        "caller": report.account.caller_arn,
        "stacks": list(report.stacks),
        "exit_status": report.exit_status,
        "counts": {status: report.count(status) for status in (OK, FAIL, UNKNOWN, INFO)},
        "checks": [dict(check=r.check, status=r.status, message=r.message, fix=r.fix, details=r.details)
                   for r in report.results],
    }


def lines(report: Report) -> Iterable[str]:
    """The text form: a heading, one line per result (a failure with its fix), a summary."""
    prefix = {OK: "ok  ", FAIL: "FAIL", UNKNOWN: "?   ", INFO: "info"}
    account = report.account
    caller = f", as {account.caller_arn}" if account.caller_arn else ""
    yield f"preflight of aws://{account.account_id}/{account.region} for {' and '.join(report.stacks)}{caller}"
    for result in report.results:
        yield f"{prefix[result.status]} {result.message}" + (f" -> fix: {result.fix}" if result.fix else "")
    summary = f"{report.count(OK)} ok, {report.count(FAIL)} failed, {report.count(UNKNOWN)} could not be checked"
    if report.exit_status:
        yield f"preflight: {summary}: a deploy would fail (fix the FAIL lines first)"
    else:
        yield f"preflight: {summary}: nothing found that would fail a deploy"
