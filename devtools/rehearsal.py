"""Rehearse the README's deploy, update and destroy commands offline, against moto's server.

Run it as ``python -m devtools.rehearsal [--stage prod]`` (``make rehearse``). It starts
``moto_server`` on a free loopback port, bootstraps the emulated account with the project's
pinned CDK CLI and runs the README's sequence: ``cdk deploy <prefix>Pipeline``, the pipeline's
approval (a stand-in for ``headlines pipeline start --wait``: a placeholder model artifact and
the two SSM parameters the publish step writes), ``cdk deploy <prefix>Serving``; it checks the
deployed resources against a table of named expectations, approves a new model with changed
settings and deploys again (the README's update), ``cdk destroy --all``, compares an inventory
of the account taken before the deploy with one taken after the destroy, then deploys again
from scratch (a redeploy after a destroy must not clash with anything left behind) and
destroys again, with a second inventory diff. Only the emulator gaps listed in ``KNOWN_GAPS``
(and, for prod, what the templates retain on purpose) may remain. docs/rehearsal.md says what
this proves and what it does not.

Every workaround for the emulator lives here, none in the app: the app is synthesized and
deployed with the CDK CLI as users run it, plus the context ``headlines:rehearsal=true`` (which
only drops the bootstrap-version rule that moto cannot evaluate on updates). The rest is listed
in docs/rehearsal.md: a custom-resource responder, a few template rewrites (EMULATOR_FIXUPS),
placeholder layer versions and a placeholder model artifact.

Output: each phase prints its name and elapsed time; the check phase prints one PASS / FAIL /
GAP line per named check with what was expected and what was found; a failure ends with one
line ``rehearsal failed in <phase>: <what>`` and a non-zero exit. The emulator this started is
stopped on every path out, including Ctrl-C and SIGTERM.
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

from headlines.config import HeadlinesConfig, load_config
from headlines.project import OPENAPI_PATH

REPO_ROOT = Path(__file__).resolve().parents[1]  # a checkout: the CDK app, node_modules
from headlines.naming import approved_model_parameter, serving_model_parameter, serving_model_value
from headlines.local.endpoint import free_port

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
REHEARSAL_CONTEXT = {"headlines:rehearsal": "true"}
ARTIFACT_BUCKET = "headlines-rehearsal-artifacts"
# The first approved model, and the one the update approves (a new model: blue/green).
ARTIFACT_KEYS = ("placeholder/v1/model.tar.gz", "placeholder/v2/model.tar.gz")
# The update phase redeploys with these settings changed (update_results checks they landed).
UPDATE_OVERRIDES = {
    "headlines.serving.instance_type": "ml.m5.large",
    "headlines.api.max_headline_chars": "321",
}
DEFAULT_BUDGET_SECONDS = 600.0

# What the emulator does not do, as measured with moto 5.2.5 (docs/rehearsal.md has more).
KNOWN_GAPS = {
    "restapi-not-deleted": "moto has no delete handler for AWS::ApiGateway::RestApi: the API "
                           "stays after its stack is deleted",
    "retained": "DeletionPolicy Retain in the template: CloudFormation keeps it on purpose",
    "recreated-by-outputs": "moto re-creates a resource that a deleted stack's outputs refer to "
                            "when the deleted stack is described (a new physical name, not the "
                            "one deployed)",
    "runtime-log-group": "the log group Lambda creates when a function is invoked (here moto's attempt "
                         "to run a custom resource provider): CloudFormation never owned it, and in "
                         "AWS it outlives the stack too",
    "not-emulated": "moto's CloudFormation skips this resource type (created nowhere)",
    "model-not-re-resolved": "moto resolves the SSM-typed parameter again on update but updates only resources "
                             "whose template text changed: the Model keeps the previous artifact (CloudFormation "
                             "compares resolved values and replaces the Model, blue/green)",
    "endpoint-not-repointed": "moto updates only resources whose template text changed: after "
                              "the endpoint configuration is replaced, the Endpoint keeps the old "
                              "name (CloudFormation re-resolves the GetAtt and updates it)",
}
# What moto's CloudFormation applies of these types (read from moto 5.2.5's create handlers);
# any other property in the template is accepted and dropped: reported as GAP rows, never PASS.
APPLIED_PROPERTIES = {
    "AWS::S3::Bucket": {"BucketName", "BucketEncryption", "Tags"},
    "AWS::Lambda::Function": {"Code", "FunctionName", "Handler", "Role", "Runtime", "Description", "MemorySize",
                              "Publish", "Timeout", "VpcConfig", "Environment", "ReservedConcurrentExecutions"},
    "AWS::IAM::Role": {"RoleName", "AssumeRolePolicyDocument", "Path", "PermissionsBoundary", "Description",
                       "Tags", "MaxSessionDuration", "Policies"},
}


# ----------------------------------------------------------------------------- basics

class RehearsalError(Exception):
    """A failure with the one line that explains it."""

    def __init__(self, what: str, detail: Sequence[str] = ()) -> None:
        super().__init__(what)
        self.what = what
        self.detail = list(detail)


class Interrupted(BaseException):
    """SIGTERM, turned into an exception so that every ``finally`` runs."""


class Deadline:
    """The whole run's time budget; every subprocess gets at most what is left."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def timeout(self, cap: float) -> float:
        left = self.left()
        if left <= 1:
            raise RehearsalError(f"time budget of {self.seconds:.0f} s used up")
        return min(cap, left)


def say(message: str = "") -> None:
    print(message, flush=True)


def _bin(name: str) -> str:
    """An executable of this virtual environment (moto_server), else from PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RehearsalError(f"{name} not found (install the dev requirements: make install)")
    return found


def cdk_cli() -> Path:
    return REPO_ROOT / "node_modules" / ".bin" / "cdk"


def _tail(path: Path, lines: int = 15) -> List[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return kept[-lines:]


def _error_line(path: Path) -> str:
    """The most telling line of a CDK CLI log."""
    lines = _tail(path, 400)
    for index in range(len(lines) - 1, -1, -1):
        if "❌" in lines[index]:
            cause = lines[index + 1].strip() if index + 1 < len(lines) else ""
            return _clip(lines[index].strip() + (f" {cause}" if cause.startswith("‣") else ""), 300)
    errors = [i for i, line in enumerate(lines) if line.startswith("ERROR")]
    if errors:  # synthesis errors (cdk-nag, validation): count them, show the first with its path
        first = errors[0]
        where = lines[first + 1].strip() if first + 1 < len(lines) else ""
        return _clip(f"{len(errors)} synthesis errors; first: {where}: {lines[first][6:].strip()}", 300)
    for line in reversed(lines):
        if re.match(r"\s*(error|Error|[A-Za-z]+Error):", line):  # the app's own one-line errors
            return _clip(line.strip(), 300)
    for line in reversed(lines):
        if re.search(r"\b(Error|error|failed|FAILED)\b", line):
            return _clip(line.strip(), 300)
    return _clip(lines[-1].strip(), 300) if lines else "no output"


# ----------------------------------------------------------------------------- emulator

class Emulator:
    """``moto_server`` on a free loopback port, stopped on every way out."""

    def __init__(self, log_path: Path, port: Optional[int] = None) -> None:
        self.log_path = log_path
        self.port = port
        self.process: Optional[subprocess.Popen] = None
        self._log = None

    @property
    def url(self) -> str:
        # "localhost", not 127.0.0.1: moto reads an IP host of a template URL as a bucket name.
        return f"http://localhost:{self.port}"

    def start(self, timeout: float = 30.0) -> "Emulator":
        end = time.monotonic() + timeout
        for _attempt in range(3):
            port = self.port or free_port()
            self._log = open(self.log_path, "ab")
            self.process = subprocess.Popen(
                [_bin("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True, env=_scrubbed_env(),
            )
            self.port = port
            while time.monotonic() < end:
                if self.process.poll() is not None:
                    break  # lost a race for the port: try another
                if _answers(f"http://127.0.0.1:{port}/moto-api/"):
                    return self
                time.sleep(0.2)
            self.stop()
            if time.monotonic() >= end:
                break
            self.port = None
        raise RehearsalError(f"moto_server did not answer within {timeout:.0f} s "
                             f"(log: {self.log_path})", _tail(self.log_path))

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            _terminate_group(process)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status < 500
    except (urllib.error.URLError, OSError):
        return False


def _terminate_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop a process this module started, with the process group it leads (by its id)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


def _scrubbed_env() -> Dict[str, str]:
    """This process's environment without anything that could reach a real AWS account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_DEFAULT_"))}
    env.pop("MOTO_PORT", None)
    return env


def aws_env(endpoint_url: str, workdir: Path) -> Dict[str, str]:
    """The environment of every CDK CLI call: dummy credentials, the emulator, no profiles."""
    env = _scrubbed_env()
    bin_dirs = [str(Path(sys.executable).parent), str(REPO_ROOT / "node_modules" / ".bin")]
    env.update({
        "PATH": os.pathsep.join(bin_dirs + [env.get("PATH", "")]),
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(workdir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_HOME": str(workdir / "cdk-home"),
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "CI": "true",
        "FORCE_COLOR": "0",
        "NO_COLOR": "1",
    })
    return env


def clients(endpoint_url: str) -> "Clients":
    return Clients(endpoint_url)


class Clients:
    """boto3 clients pointed at the emulator, created on first use."""

    def __init__(self, endpoint_url: str) -> None:
        import boto3
        from botocore.config import Config

        self._session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        self._endpoint_url = endpoint_url
        self._config = Config(retries={"max_attempts": 2, "mode": "standard"},
                              connect_timeout=5, read_timeout=30)
        self._cache: Dict[str, Any] = {}

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        name = service.rstrip("_").replace("_", "-")
        if name not in self._cache:
            self._cache[name] = self._session.client(
                name, endpoint_url=self._endpoint_url, config=self._config)
        return self._cache[name]


# ----------------------------------------------------------------------------- custom resources

def is_custom_resource(resource_type: str) -> bool:
    return resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource"


class CustomResourceResponder:
    """Answers SUCCESS for the app's custom resources, which moto cannot run.

    moto hands a custom resource to its Lambda function, which it can only run in Docker; the
    stack would wait forever. While a CDK CLI command runs, this thread watches the stacks and,
    for each custom resource of a stack in progress, sends the response a provider would send
    to moto's response URL. The provider's own code is therefore not rehearsed
    (docs/rehearsal.md): e.g. CDK's auto-delete of bucket objects.

    moto creates a stack's resources inside the CreateStack call and evaluates readiness when a
    response arrives, creating lazily whatever is missing: a response that lands while the
    call is still running races it. So the first response waits until the stack has been in
    progress for ``settle`` seconds, and responses are repeated every ``settle`` seconds while
    it stays in progress (a repeated SUCCESS changes nothing). Only ListStacks and GetTemplate
    are called here: describing a stack makes moto evaluate (and create) what it refers to.
    """

    def __init__(self, endpoint_url: str, aws: "Clients", settle: float = 2.0) -> None:
        import threading

        self.endpoint_url = endpoint_url
        self.aws = aws
        self.settle = settle
        self.answered: List[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="custom-resource-responder", daemon=True)
        self._first_seen: Dict[Tuple[str, str], float] = {}
        self._last_answer: Dict[Tuple[str, str], float] = {}

    def __enter__(self) -> "CustomResourceResponder":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._poll()
            except Exception:  # noqa: BLE001 - the emulator may be busy; try again
                continue

    def _poll(self) -> None:
        now = time.monotonic()
        for summary in self.aws.cloudformation.list_stacks()["StackSummaries"]:
            status = summary["StackStatus"]
            if status not in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"):
                continue
            key = (summary["StackId"], status)
            first = self._first_seen.setdefault(key, now)
            if now - first < self.settle or now - self._last_answer.get(key, 0.0) < self.settle:
                continue
            self._last_answer[key] = now
            body = self.aws.cloudformation.get_template(StackName=summary["StackId"])["TemplateBody"]
            template = json.loads(body) if isinstance(body, str) else body
            for logical, resource in template.get("Resources", {}).items():
                if is_custom_resource(resource.get("Type", "")):
                    self._respond(summary["StackId"], logical)

    def _respond(self, stack_id: str, logical: str) -> None:
        body = json.dumps({"Status": "SUCCESS", "StackId": stack_id, "LogicalResourceId": logical,
                           "PhysicalResourceId": logical, "RequestId": "rehearsal", "Data": {}}).encode()
        url = f"{self.endpoint_url}/cloudformation_{REGION}/cfnresponse?stack={urllib.request.quote(stack_id)}"
        request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5):
                name = f"{stack_id.split('/')[1]}/{logical}"
                if name not in self.answered:
                    self.answered.append(name)
        except (urllib.error.URLError, OSError):
            pass


# ----------------------------------------------------------------------------- CDK CLI

class Cdk:
    """The project's pinned CDK CLI, run in the app directory against the emulator."""

    def __init__(self, app_dir: Path, workdir: Path, endpoint_url: str, deadline: Deadline) -> None:
        self.app_dir = app_dir
        self.workdir = workdir
        self.out_dir = workdir / "cdk.out"
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = aws_env(endpoint_url, workdir)
        self.deadline = deadline

    def run(self, log_name: str, args: Sequence[str], cap: float, cwd: Optional[Path] = None) -> Path:
        cli = cdk_cli()
        if not cli.exists():
            raise RehearsalError(f"{cli} is missing (install the pinned CDK CLI: npm ci)")
        log = self.logs / f"{log_name}.log"
        command = [str(cli), *args, "--no-notices", "--no-color", "--ci"]
        timeout = self.deadline.timeout(cap)
        with open(log, "wb") as handle:
            handle.write(("$ " + " ".join(command) + "\n").encode())
            handle.flush()
            process = subprocess.Popen(command, cwd=str(cwd or self.app_dir), env=self.env,
                                       stdin=subprocess.DEVNULL, stdout=handle,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _terminate_group(process)
                raise RehearsalError(f"cdk {args[0]} did not finish within {timeout:.0f} s "
                                     f"(log: {log})", _tail(log))
            except BaseException:
                _terminate_group(process)
                raise
        if code != 0:
            raise RehearsalError(f"cdk {args[0]} exited {code}: {_error_line(log)} (log: {log})",
                                 _tail(log))
        return log

    @staticmethod
    def context_args(context: Mapping[str, str]) -> List[str]:
        args: List[str] = []
        for key, value in context.items():
            args += ["-c", f"{key}={value}"]
        return args

    def bootstrap(self) -> None:
        # Run outside the app directory: bootstrapping an explicit environment needs no synth.
        self.run("bootstrap", ["bootstrap", f"aws://{ACCOUNT}/{REGION}"], cap=120, cwd=self.workdir)

    def synth(self, log_name: str, context: Mapping[str, str], out_dir: Path) -> None:
        """``cdk synth`` with the rehearsal context; ``cdk deploy`` then deploys this assembly."""
        self.run(log_name, ["synth", "--quiet", "--output", str(out_dir), *self.context_args(context)], cap=180)

    def deploy(self, log_name: str, assembly: Path, stack: str, outputs: Path,
               parameters: Mapping[str, str] = ()) -> None:
        """``cdk deploy <stack>``, as the README runs it (one stack at a time)."""
        extra = [arg for key, value in dict(parameters).items() for arg in ("--parameters", f"{stack}:{key}={value}")]
        self.run(log_name, ["deploy", stack, "--app", str(assembly), "--require-approval", "never",
                            "--method=direct", "--progress", "events", "-O", str(outputs), *extra], cap=240)

    def destroy(self, assembly: Path) -> None:
        self.run("destroy", ["destroy", "--all", "--force", "--app", str(assembly)], cap=180)


# ----------------------------------------------------------------------------- templates

@dataclass
class StackTemplate:
    name: str
    template: Dict[str, Any]

    @property
    def resources(self) -> Dict[str, Dict[str, Any]]:
        return self.template.get("Resources", {})

    def of_type(self, resource_type: str) -> Dict[str, Dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == resource_type}


def read_assembly(out_dir: Path) -> List[StackTemplate]:
    """The app's stacks, in the cloud assembly's order, from ``cdk.out/manifest.json``."""
    manifest_path = out_dir / "manifest.json"
    if not manifest_path.exists():
        raise RehearsalError(f"no cloud assembly at {out_dir} (deploy first)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    stacks = []
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        props = artifact.get("properties", {})
        template = json.loads((out_dir / props["templateFile"]).read_text(encoding="utf-8"))
        stacks.append(StackTemplate(props.get("stackName", artifact_id), template))
    if not stacks:
        raise RehearsalError(f"the cloud assembly at {out_dir} has no stacks")
    return stacks


def moto_supported(resource_type: str) -> bool:
    from moto.cloudformation import parsing

    if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
        return True
    if resource_type in getattr(parsing, "NULL_MODELS", ()):
        return False
    return resource_type in parsing.get_model_map()


def references(value: Any) -> Set[str]:
    """Logical ids that a piece of template refers to (Ref, GetAtt, Sub)."""
    found: Set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                if isinstance(text, str):
                    found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
                found |= references(inner)
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found


# ----------------------------------------------------------------------------- deployed state

@dataclass
class Deployed:
    """What CloudFormation (moto) says is deployed, plus the templates and the CLI's outputs."""

    stacks: List[StackTemplate]
    status: Dict[str, str]
    resources: Dict[str, Dict[str, Tuple[str, str]]]  # stack -> logical -> (type, physical id)
    outputs: Dict[str, Dict[str, str]]                # from ``cdk deploy -O``
    exports: Dict[str, str]

    def physical(self, stack: str, logical: str) -> str:
        return self.resources.get(stack, {}).get(logical, ("", ""))[1]

    def of_type(self, resource_type: str) -> Iterator[Tuple[str, str, Dict[str, Any], str]]:
        """(stack, logical id, template resource, physical id) of every resource of a type."""
        for stack in self.stacks:
            for logical, resource in stack.of_type(resource_type).items():
                yield stack.name, logical, resource, self.physical(stack.name, logical)


def read_deployed(aws: Clients, out_dir: Path, outputs_path: Path) -> Deployed:
    stacks = read_assembly(out_dir)
    outputs: Dict[str, Dict[str, str]] = {}
    if outputs_path.exists():
        outputs = json.loads(outputs_path.read_text(encoding="utf-8"))
    status: Dict[str, str] = {}
    resources: Dict[str, Dict[str, Tuple[str, str]]] = {}
    for stack in stacks:
        try:
            described = aws.cloudformation.describe_stacks(StackName=stack.name)["Stacks"][0]
        except Exception as error:  # noqa: BLE001 - a missing stack is a finding, not a crash
            status[stack.name] = f"missing ({_short(error)})"
            resources[stack.name] = {}
            continue
        status[stack.name] = described["StackStatus"]
        found = {}
        paginator = aws.cloudformation.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=stack.name):
            for summary in page["StackResourceSummaries"]:
                if summary.get("LogicalResourceId"):
                    found[summary["LogicalResourceId"]] = (
                        summary["ResourceType"], summary.get("PhysicalResourceId") or "")
        resources[stack.name] = found
    exports = {e["Name"]: e["Value"] for e in aws.cloudformation.list_exports().get("Exports", [])}
    return Deployed(stacks, status, resources, outputs, exports)


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) < 160 else text[:157] + "..."


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _name_of(physical: str) -> str:
    """The name at the end of an ARN (or the id itself)."""
    return re.split(r"[/:]", physical)[-1] if physical else ""


# ----------------------------------------------------------------------------- checks

@dataclass
class Result:
    name: str
    status: str  # PASS, FAIL or GAP
    expected: str
    found: str

    def line(self) -> str:
        return f"  {self.status:<4}  {self.name}\n          expected: {self.expected}\n          found:    {self.found}"


@dataclass
class Expectations:
    """What the app should look like once deployed, from the config and the contracts."""

    config: HeadlinesConfig
    model_data_url: str
    routes: Set[Tuple[str, str]]
    changed: Mapping[str, str] = field(default_factory=dict)
    previous_model_data_url: Optional[str] = None  # during the update: the model approved before
    model_version: Optional[str] = None  # of the model approved last (read from its metrics.json)


def expected_routes(openapi: Path = OPENAPI_PATH) -> Set[Tuple[str, str]]:
    """(METHOD, path) of every operation of the OpenAPI contract."""
    import yaml

    spec = yaml.safe_load(openapi.read_text(encoding="utf-8"))
    verbs = {"get", "put", "post", "delete", "patch", "head", "options"}
    return {(verb.upper(), path) for path, item in spec.get("paths", {}).items()
            for verb in item if verb in verbs}


Check = Callable[[Clients, Deployed, Expectations], Iterable[Result]]
CHECKS: List[Tuple[str, Check]] = []


def check(name: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS.append((name, function))
        return function
    return register


def _result(name: str, ok: bool, expected: Any, found: Any) -> Result:
    return Result(name, "PASS" if ok else "FAIL", str(expected), str(found))


@check("stack.status")
def _stack_status(aws: Clients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    for stack in deployed.stacks:
        status = deployed.status.get(stack.name, "missing")
        yield _result(f"stack.status[{stack.name}]", status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"),
                      "CREATE_COMPLETE or UPDATE_COMPLETE", status)


@check("stack.resources")
def _stack_resources(aws: Clients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    for stack in deployed.stacks:
        wanted = {k for k, v in stack.resources.items() if moto_supported(v["Type"])}
        skipped = sorted({v["Type"] for v in stack.resources.values() if not moto_supported(v["Type"])})
        have = set(deployed.resources.get(stack.name, {}))
        missing = sorted(wanted - have)
        yield _result(f"stack.resources[{stack.name}]", not missing,
                      f"all {len(wanted)} emulated template resources created",
                      f"missing {missing}" if missing else f"{len(wanted & have)} created")
        if skipped:
            yield Result(f"stack.not-emulated[{stack.name}]", "GAP",
                         "every resource type created", f"{KNOWN_GAPS['not-emulated']}: {', '.join(skipped)}")


@check("not-applied")
def _not_applied(aws: Clients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    dropped: Dict[Tuple[str, str], List[str]] = {}
    for stack in deployed.stacks:
        for logical, resource in stack.resources.items():
            applied = APPLIED_PROPERTIES.get(resource.get("Type", ""))
            for prop in sorted(set(resource.get("Properties", {})) - (applied or set())) if applied else ():
                dropped.setdefault((resource["Type"], prop), []).append(f"{stack.name}/{logical}")
    for (rtype, prop), where in sorted(dropped.items()):
        yield Result(f"not-applied[{rtype} {prop}]", "GAP", "applied as in the template",
                     f"moto's CloudFormation ignores it, not verifiable here ({len(where)}: {', '.join(where[:3])}"
                     f"{', ...' if len(where) > 3 else ''})")


@check("stack.outputs")
def _stack_outputs(aws: Clients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    for stack in deployed.stacks:
        declared = sorted(stack.template.get("Outputs", {}))
        got = deployed.outputs.get(stack.name, {})
        empty = [k for k in declared if not str(got.get(k, "")).strip() or got.get(k) in ("None", "null")]
        yield _result(f"stack.outputs[{stack.name}]", not empty,
                      f"{len(declared)} outputs with values: {', '.join(declared) or '-'}",
                      f"missing or empty: {empty}" if empty else f"{len(declared)} present")


@check("s3.encryption")
def _s3_encryption(aws: Clients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    for stack, logical, resource, physical in deployed.of_type("AWS::S3::Bucket"):
        rules = (resource.get("Properties", {}).get("BucketEncryption", {})
                 .get("ServerSideEncryptionConfiguration", []))
        wanted = sorted({r.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules} - {None})
        expected = " or ".join(wanted) if wanted else "AES256 or aws:kms (every bucket is encrypted)"
        try:
            config = aws.s3.get_bucket_encryption(Bucket=physical)["ServerSideEncryptionConfiguration"]
            found = sorted({r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in config["Rules"]})
        except Exception as error:  # noqa: BLE001
            found = []
            note = _short(error)
        else:
            note = ", ".join(found)
        ok = bool(found) and (set(found) <= set(wanted) if wanted else True)
        key_refs = [r.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID") for r in rules]
        key_refs = [k for k in key_refs if k]
        if key_refs and found:
            key_ok, shown = _intrinsic_ok(key_refs[0], config["Rules"][0]["ApplyServerSideEncryptionByDefault"]
                                          .get("KMSMasterKeyID"), deployed, stack)
            ok = ok and key_ok
            expected += f" with key {_describe_value(key_refs[0])}"
            note += f" with key {shown}"
        yield _result(f"s3.encryption[{stack}/{logical}]", ok, expected, note or "no default encryption")


def _service_principals(document: Any) -> Set[str]:
    if isinstance(document, str):
        document = json.loads(document)
    principals: Set[str] = set()
    for statement in document.get("Statement", []):
        service = statement.get("Principal", {}).get("Service", [])
        for item in service if isinstance(service, list) else [service]:
            if isinstance(item, str):
                principals.add(item)
            elif isinstance(item, dict) and "Fn::Join" in item:
                principals.add("".join(p if isinstance(p, str) else "{region}" for p in item["Fn::Join"][1]))
    return principals


def _role(aws: Clients, role: str) -> Optional[Dict[str, Any]]:
    try:
        return aws.iam.get_role(RoleName=_name_of(role))["Role"]
    except Exception:  # noqa: BLE001
        return None


@check("iam.trust")
def _iam_trust(aws: Clients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    sagemaker_roles = 0
    for stack, logical, resource, physical in deployed.of_type("AWS::IAM::Role"):
        wanted = _service_principals(resource.get("Properties", {}).get("AssumeRolePolicyDocument", {}))
        role = _role(aws, physical)
        found = _service_principals(role["AssumeRolePolicyDocument"]) if role else set()
        sagemaker_roles += "sagemaker.amazonaws.com" in found
        yield _result(f"iam.trust[{stack}/{logical}]", role is not None and found == wanted,
                      f"trusted by {sorted(wanted)}",
                      f"trusted by {sorted(found)}" if role else f"no role {physical!r}")
    yield _result("iam.trust[sagemaker execution role]", sagemaker_roles >= 1,
                  "at least one role trusted by sagemaker.amazonaws.com", f"{sagemaker_roles} such roles")


def _intrinsic_ok(value: Any, found: Optional[str], deployed: Deployed, stack: str) -> Tuple[bool, str]:
    """Does a deployed value match what a template value (literal or reference) should resolve to?"""
    if found is None:
        return False, "absent"
    if isinstance(value, (str, int, float, bool)):
        literal = json.dumps(value) if isinstance(value, bool) else str(value)
        if isinstance(value, bool):
            literal = literal.lower()
        return found == literal, found
    if isinstance(value, dict) and "Ref" in value:
        physical = deployed.physical(stack, value["Ref"])
        return bool(physical) and found == physical, found
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"][0] if isinstance(value["Fn::GetAtt"], list) else value["Fn::GetAtt"].split(".")[0]
        name = _name_of(deployed.physical(stack, target))
        return bool(name) and bool(found) and (name in found or found in deployed.physical(stack, target)), found
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        export = value["Fn::ImportValue"]
        wanted = deployed.exports.get(export) if isinstance(export, str) else None
        return wanted is not None and found == wanted, found
    return bool(found) and found not in ("None", "null") and "${" not in found, found


def _describe_value(value: Any) -> str:
    if isinstance(value, dict):
        key = next(iter(value))
        inner = value[key]
        if key == "Ref":
            return f"<Ref {inner}>"
        if key == "Fn::GetAtt":
            return f"<GetAtt {'.'.join(inner) if isinstance(inner, list) else inner}>"
        if key == "Fn::ImportValue":
            return f"<ImportValue {inner if isinstance(inner, str) else '...'}>"
        return f"<{key} ...>"
    return str(value).lower() if isinstance(value, bool) else str(value)


def providers(stack: StackTemplate) -> Set[str]:
    """Logical ids of the functions that serve custom resources (CDK's own, e.g. auto-delete)."""
    return {target for resource in stack.resources.values() if is_custom_resource(resource.get("Type", ""))
            for target in references(resource.get("Properties", {}).get("ServiceToken"))}


@check("lambda")
def _lambda(aws: Clients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    provider_ids = {(s.name, logical) for s in deployed.stacks for logical in providers(s)}
    for stack, logical, resource, physical in deployed.of_type("AWS::Lambda::Function"):
        props = resource.get("Properties", {})
        app_function = (stack, logical) not in provider_ids
        try:
            config = aws.lambda_.get_function_configuration(FunctionName=physical) if physical else None
        except Exception:  # noqa: BLE001
            config = None
        label = f"{stack}/{logical}"
        if config is None:
            yield _result(f"lambda.exists[{label}]", False, "a function", f"no function {physical!r}")
            continue
        runtime = props.get("Runtime")
        yield _result(f"lambda.runtime[{label}]",
                      config.get("Runtime") == runtime and (str(runtime).startswith("python3.") or not app_function),
                      f"{runtime} ({'a python3 runtime' if app_function else 'custom resource provider'})",
                      config.get("Runtime"))
        settings = {"Handler": props.get("Handler"), "Timeout": props.get("Timeout", 3),
                    "MemorySize": props.get("MemorySize", 128)}
        got = {k: config.get(k) for k in settings}
        yield _result(f"lambda.settings[{label}]", got == settings, settings, got)
        wanted_env = props.get("Environment", {}).get("Variables", {})
        got_env = config.get("Environment", {}).get("Variables", {})
        bad = []
        for key, value in sorted(wanted_env.items()):
            ok, shown = _intrinsic_ok(value, got_env.get(key), deployed, stack)
            if not ok:
                bad.append(f"{key}={shown} (want {_describe_value(value)})")
        extra = sorted(set(got_env) - set(wanted_env))
        bad += [f"unexpected {k}={got_env[k]}" for k in extra]
        yield _result(
            f"lambda.env[{label}]", not bad,
            ", ".join(f"{k}={_describe_value(v)}" for k, v in sorted(wanted_env.items())) or "no variables",
            "; ".join(bad) if bad else ", ".join(f"{k}={v}" for k, v in sorted(got_env.items())) or "no variables")


def _rest_api_routes(aws: Clients, api_id: str) -> Dict[Tuple[str, str], Dict[str, Any]]:
    routes = {}
    paginator = aws.apigateway.get_paginator("get_resources")
    for page in paginator.paginate(restApiId=api_id):
        for item in page["items"]:
            for method in item.get("resourceMethods", {}) or {}:
                routes[(method, item["path"])] = {"resource": item["id"]}
    return routes


@check("api")
def _api(aws: Clients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    apis = list(deployed.of_type("AWS::ApiGateway::RestApi"))
    yield _result("api.rest-api", len(apis) == 1, "one REST API", f"{len(apis)} in the templates")
    functions = {physical for *_, physical in deployed.of_type("AWS::Lambda::Function")}
    for stack, logical, _resource, api_id in apis:
        try:
            routes = _rest_api_routes(aws, api_id)
        except Exception as error:  # noqa: BLE001
            yield _result(f"api.routes[{stack}/{logical}]", False, sorted(exp.routes), _short(error))
            continue
        served = {r for r in routes if r[0] != "OPTIONS"}  # CORS preflights are extra by design
        missing, extra = sorted(exp.routes - served), sorted(served - exp.routes)
        yield _result(f"api.routes[{stack}/{logical}]", not missing and not extra,
                      "the OpenAPI operations: " + ", ".join(f"{m} {p}" for m, p in sorted(exp.routes)),
                      ", ".join(f"{m} {p}" for m, p in sorted(served))
                      + (f" (missing {missing})" if missing else "") + (f" (undocumented {extra})" if extra else ""))
        for method, path in sorted(exp.routes & served):
            try:
                integration = aws.apigateway.get_integration(
                    restApiId=api_id, resourceId=routes[(method, path)]["resource"], httpMethod=method)
            except Exception as error:  # noqa: BLE001
                yield _result(f"api.integration[{method} {path}]", False, "AWS_PROXY to the API function", _short(error))
                continue
            uri = integration.get("uri", "")
            target = next((f for f in functions if f and f"function:{_name_of(f)}/" in uri + "/"), None)
            yield _result(f"api.integration[{method} {path}]",
                          integration.get("type") == "AWS_PROXY" and target is not None,
                          "AWS_PROXY to a function of the app",
                          f"{integration.get('type')} to {_name_of(uri.split('/invocations')[0]) or uri or '-'}")


def _definition(aws: Clients, arn: str) -> Dict[str, Any]:
    return json.loads(aws.stepfunctions.describe_state_machine(stateMachineArn=arn)["definition"])


def _all_states(definition: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    states = dict(definition.get("States", {}))
    for state in list(states.values()):
        for branch in state.get("Branches", []) + ([state["Iterator"]] if "Iterator" in state else []) \
                + ([state["ItemProcessor"]] if "ItemProcessor" in state else []):
            states.update(_all_states(branch))
    return states


def _s3_uris(value: Any, key: str = "") -> Iterator[Tuple[str, str]]:
    if isinstance(value, dict):
        for inner_key, inner in value.items():
            yield from _s3_uris(inner, inner_key)
    elif isinstance(value, list):
        for inner in value:
            yield from _s3_uris(inner, key)
    elif isinstance(value, str) and key in ("S3Uri", "S3OutputPath", "S3DataSource", "ModelDataUrl"):
        yield key, value


@check("pipeline")
def _pipeline(aws: Clients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    machines = list(deployed.of_type("AWS::StepFunctions::StateMachine"))
    yield _result("pipeline.state-machine", len(machines) >= 1, "a training state machine", f"{len(machines)}")
    for stack, logical, _resource, arn in machines:
        label = f"{stack}/{logical}"
        try:
            definition = _definition(aws, arn)
        except Exception as error:  # noqa: BLE001
            yield _result(f"pipeline.definition[{label}]", False, "a readable definition", _short(error))
            continue
        states = _all_states(definition)
        jobs = {name: s for name, s in states.items()
                if s.get("Type") == "Task" and "sagemaker:createTrainingJob" in str(s.get("Resource", ""))}
        images = {name: str(s.get("Parameters", {}).get("AlgorithmSpecification", {}).get("TrainingImage", ""))
                  for name, s in jobs.items()}
        kinds = sorted({"blazingtext" if "blazingtext" in i else "mxnet" if "mxnet" in i else i or "?"
                        for i in images.values()})
        yield _result(f"pipeline.training-jobs[{label}]", kinds == ["blazingtext", "mxnet"],
                      "two SageMaker training jobs: BlazingText embeddings, MXNet classifier",
                      ", ".join(f"{n}: {i}" for n, i in sorted(images.items())) or "no training job")
        sync = sorted(n for n, s in jobs.items() if not str(s.get("Resource", "")).endswith(".sync"))
        yield _result(f"pipeline.wait-for-jobs[{label}]", bool(jobs) and not sync,
                      "every training task waits for its job (.sync)", f"not waiting: {sync}" if sync else "all .sync")
        fails = {n for n, s in states.items() if s.get("Type") == "Fail"}
        gates = sorted(n for n, s in states.items() if s.get("Type") == "Choice"
                       and ({c.get("Next") for c in s.get("Choices", [])} | {s.get("Default")}) & fails)
        metric, threshold = exp.config.classifier.quality_metric, exp.config.classifier.quality_threshold
        text = repr(float(threshold))
        text = re.escape(text[:-2]) + r"(\.0)?" if text.endswith(".0") else re.escape(text)
        number = re.compile(r"(?<![\d.])" + text + r"(?![\d])")
        with_threshold = [g for g in gates if number.search(json.dumps(states[g]))]
        yield _result(f"pipeline.quality-gate[{label}]", bool(with_threshold) and metric in json.dumps(definition),
                      f"a Choice state that can end in a Fail state, testing {metric} against {threshold} (config)",
                      (f"gate(s) {gates}, threshold {threshold} in {with_threshold or 'none of them'}, "
                       f"{metric} {'named' if metric in json.dumps(definition) else 'never named'}") if gates
                      else f"no gate (Choice states: {sorted(n for n, s in states.items() if s.get('Type') == 'Choice')}, "
                           f"Fail states: {sorted(fails)})")
        roles = {name: s.get("Parameters", {}).get("RoleArn", "") for name, s in jobs.items()}
        untrusted = {}
        for name, role_arn in roles.items():
            role = _role(aws, role_arn) if role_arn else None
            if role is None or "sagemaker.amazonaws.com" not in _service_principals(role["AssumeRolePolicyDocument"]):
                untrusted[name] = role_arn or "no RoleArn"
        yield _result(f"pipeline.job-roles[{label}]", bool(jobs) and not untrusted,
                      "each job's RoleArn is a deployed role trusted by sagemaker.amazonaws.com",
                      f"bad: {untrusted}" if untrusted else ", ".join(sorted({_name_of(r) for r in roles.values()})))
        uris = [(k, v) for s in jobs.values() for k, v in _s3_uris(s.get("Parameters", {}))]
        bad = [f"{k}={v}" for k, v in uris if not v.startswith("s3://")]
        yield _result(f"pipeline.s3-uris[{label}]", not bad, "training job S3 locations are s3:// URIs",
                      "; ".join(bad) if bad else f"{len(uris)} s3:// URIs")


@check("serving")
def _serving(aws: Clients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    endpoints = list(deployed.of_type("AWS::SageMaker::Endpoint"))
    yield _result("serving.endpoint", len(endpoints) == 1, "one SageMaker endpoint", f"{len(endpoints)} in the templates")
    for stack, logical, resource, physical in endpoints:
        try:
            endpoint = aws.sagemaker.describe_endpoint(EndpointName=_name_of(physical))
        except Exception as error:  # noqa: BLE001
            yield _result(f"serving.endpoint[{stack}/{logical}]", False, "an endpoint", _short(error))
            continue
        yield _result(f"serving.endpoint[{stack}/{logical}]", endpoint["EndpointStatus"] == "InService",
                      "InService", endpoint["EndpointStatus"])
        config_name = endpoint["EndpointConfigName"]
        ref = resource.get("Properties", {}).get("EndpointConfigName", {})
        owned = ""
        if isinstance(ref, dict) and ("Fn::GetAtt" in ref or "Ref" in ref):
            target = ref["Fn::GetAtt"][0] if "Fn::GetAtt" in ref else ref["Ref"]
            owned = _name_of(deployed.physical(stack, target))
        try:
            config = aws.sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        except Exception as error:  # noqa: BLE001
            if exp.changed and owned and owned != config_name:
                yield Result(f"serving.endpoint->config[{stack}/{logical}]", "GAP",
                             f"endpoint uses the stack's configuration {owned}",
                             f"{config_name} (deleted): {KNOWN_GAPS['endpoint-not-repointed']}")
                try:
                    config = aws.sagemaker.describe_endpoint_config(EndpointConfigName=owned)
                except Exception as inner:  # noqa: BLE001
                    yield _result(f"serving.endpoint-config[{stack}/{logical}]", False, owned, _short(inner))
                    continue
            else:
                yield _result(f"serving.endpoint->config[{stack}/{logical}]", False,
                              "an existing endpoint configuration", f"{config_name}: {_short(error)}")
                continue
        else:
            yield _result(f"serving.endpoint->config[{stack}/{logical}]", not owned or owned == config_name,
                          f"the stack's endpoint configuration {owned or '(any)'}", config_name)
        variants = config.get("ProductionVariants", [])
        serving = exp.config.serving
        if serving.mode == "serverless":
            wanted = {"MemorySizeInMB": serving.serverless_memory_mb, "MaxConcurrency": serving.serverless_max_concurrency}
            got = [v.get("ServerlessConfig") for v in variants]
            yield _result(f"serving.variant[{stack}/{logical}]", got == [wanted], [wanted], got)
        else:
            wanted = [(serving.instance_type, serving.initial_instance_count)]
            got = [(v.get("InstanceType"), v.get("InitialInstanceCount")) for v in variants]
            yield _result(f"serving.variant[{stack}/{logical}]", got == wanted,
                          f"instance type and count from config: {wanted}", got)
        for variant in variants:
            model_name = variant.get("ModelName", "")
            try:
                model = aws.sagemaker.describe_model(ModelName=model_name)
            except Exception as error:  # noqa: BLE001
                yield _result(f"serving.config->model[{stack}/{logical}]", False, "an existing model",
                              f"{model_name}: {_short(error)}")
                continue
            yield _result(f"serving.config->model[{stack}/{logical}]", True, "an existing model", model_name)
            role = _role(aws, model.get("ExecutionRoleArn", ""))
            principals = _service_principals(role["AssumeRolePolicyDocument"]) if role else set()
            yield _result(f"serving.model-role[{model_name}]", "sagemaker.amazonaws.com" in principals,
                          "a deployed role trusted by sagemaker.amazonaws.com",
                          f"{_name_of(model.get('ExecutionRoleArn', ''))} trusted by {sorted(principals)}")
            containers = [model.get("PrimaryContainer")] if model.get("PrimaryContainer") else model.get("Containers", [])
            urls = [c.get("ModelDataUrl") for c in containers]
            if exp.previous_model_data_url and urls == [exp.previous_model_data_url]:
                yield Result(f"serving.model-data[{model_name}]", "GAP", f"the newly approved {exp.model_data_url}",
                             f"{urls}: {KNOWN_GAPS['model-not-re-resolved']}")
            else:
                yield _result(f"serving.model-data[{model_name}]", urls == [exp.model_data_url]
                              and _s3_object_exists(aws, exp.model_data_url),
                              f"the staged artifact {exp.model_data_url} (which exists)", urls)
            env = {k: v for c in containers for k, v in (c.get("Environment") or {}).items()}
            yield _result(f"serving.model-env[{model_name}]", "SAGEMAKER_PROGRAM" in env,
                          "SAGEMAKER_PROGRAM set (the entry point under code/)",
                          ", ".join(f"{k}={v}" for k, v in sorted(env.items())) or "no environment")


def _s3_object_exists(aws: Clients, uri: str) -> bool:
    match = re.match(r"s3://([^/]+)/(.+)", uri or "")
    if not match:
        return False
    try:
        aws.s3.head_object(Bucket=match.group(1), Key=match.group(2))
        return True
    except Exception:  # noqa: BLE001
        return False


@check("wiring")
def _wiring(aws: Clients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    endpoints = [_name_of(p) for *_, p in deployed.of_type("AWS::SageMaker::Endpoint")]
    users = []
    for stack, logical, _resource, physical in deployed.of_type("AWS::Lambda::Function"):
        try:
            env = aws.lambda_.get_function_configuration(FunctionName=physical).get("Environment", {}).get("Variables", {})
        except Exception:  # noqa: BLE001
            continue
        users += [f"{logical}.{k}" for k, v in env.items() if v in endpoints]
    yield _result("wiring.api->endpoint", bool(users) and bool(endpoints),
                  f"a function's environment names the deployed endpoint {endpoints}",
                  ", ".join(users) or "no function names it")
    if exp.model_version:
        # One model identity: what /v1/health reports (MODEL_VERSION) and the ModelVersion output.
        found = {f"{stack}.output.ModelVersion": outputs.get("ModelVersion")
                 for stack, outputs in deployed.outputs.items() if "ModelVersion" in outputs}
        for stack, logical, _resource, physical in deployed.of_type("AWS::Lambda::Function"):
            with contextlib.suppress(Exception):
                env = aws.lambda_.get_function_configuration(FunctionName=physical).get("Environment", {}).get("Variables", {})
                if "MODEL_VERSION" in env:
                    found[f"{logical}.MODEL_VERSION"] = env["MODEL_VERSION"]
        ok = len(found) >= 2 and set(found.values()) == {exp.model_version}
        shown = ", ".join(f"{k}={v}" for k, v in sorted(found.items())) or "neither"
        if not ok and exp.previous_model_data_url:
            yield Result("wiring.model-version", "GAP", f"{exp.model_version} everywhere", f"{shown}: {KNOWN_GAPS['model-not-re-resolved']}")
        else:
            yield _result("wiring.model-version", ok,
                          f"the approved model's version {exp.model_version} (metrics.json) in the function and the output", shown)


@check("notebook")
def _notebook(aws: Clients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    notebooks = list(deployed.of_type("AWS::SageMaker::NotebookInstance"))
    enabled = exp.config.notebook.enabled
    yield _result("notebook.present", len(notebooks) == (1 if enabled else 0),
                  f"{1 if enabled else 0} notebook instance (notebook.enabled={enabled})", len(notebooks))
    for stack, logical, _resource, physical in notebooks:
        try:
            notebook = aws.sagemaker.describe_notebook_instance(NotebookInstanceName=_name_of(physical))
        except Exception as error:  # noqa: BLE001
            yield _result(f"notebook[{stack}/{logical}]", False, "a notebook instance", _short(error))
            continue
        role = _role(aws, notebook.get("RoleArn", ""))
        principals = _service_principals(role["AssumeRolePolicyDocument"]) if role else set()
        got = (notebook.get("InstanceType"), "sagemaker.amazonaws.com" in principals)
        yield _result(f"notebook[{stack}/{logical}]", got == (exp.config.notebook.instance_type, True),
                      f"{exp.config.notebook.instance_type}, role trusted by sagemaker.amazonaws.com",
                      f"{got[0]}, role trusted by {sorted(principals)}")


def run_checks(aws: Clients, deployed: Deployed, exp: Expectations) -> List[Result]:
    results: List[Result] = []
    for name, function in CHECKS:
        try:
            results.extend(function(aws, deployed, exp))
        except Exception as error:  # noqa: BLE001 - a crashing check is a failed check
            results.append(Result(name, "FAIL", "the check to run", f"{type(error).__name__}: {_short(error)}"))
    return results


def report(results: Sequence[Result]) -> None:
    for result in results:
        say(result.line())
    failed = [r for r in results if r.status == "FAIL"]
    gaps = sum(r.status == "GAP" for r in results)
    passed = sum(r.status == "PASS" for r in results)
    say(f"  {passed} passed, {len(failed)} failed, {gaps} known gaps")
    if failed:
        first = failed[0]
        raise RehearsalError(f"{len(failed)} of {len(results)} checks failed; first: {first.name}: "
                             f"expected {_clip(first.expected)}, found {_clip(first.found)}")


# ----------------------------------------------------------------------------- inventory

def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> List[Any]:
    if client.can_paginate(operation):
        items: List[Any] = []
        for page in client.get_paginator(operation).paginate(**kwargs):
            items.extend(page.get(key, []))
        return items
    return client.__getattribute__(operation)(**kwargs).get(key, [])


def _live_kms_keys(aws: Clients) -> List[str]:
    keys = []
    for key in _pages(aws.kms, "list_keys", "Keys"):
        try:
            state = aws.kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"].get("KeyState")
        except Exception:  # noqa: BLE001 - moto fails to describe keys CloudFormation made: count it
            state = "unknown"
        if state not in ("PendingDeletion", "Disabled"):
            keys.append(key["KeyId"])
    return keys


INVENTORY: Dict[str, Callable[[Clients], Iterable[str]]] = {
    "cloudformation stack": lambda a: [s["StackName"] for s in _pages(a.cloudformation, "list_stacks", "StackSummaries")
                                       if s["StackStatus"] != "DELETE_COMPLETE"],
    "s3 bucket": lambda a: [b["Name"] for b in a.s3.list_buckets()["Buckets"]],
    "iam role": lambda a: [r["RoleName"] for r in _pages(a.iam, "list_roles", "Roles")],
    "iam managed policy": lambda a: [p["PolicyName"] for p in _pages(a.iam, "list_policies", "Policies", Scope="Local")],
    "lambda function": lambda a: [f["FunctionName"] for f in _pages(a.lambda_, "list_functions", "Functions")],
    "lambda layer": lambda a: [layer["LayerName"] for layer in _pages(a.lambda_, "list_layers", "Layers")],
    "state machine": lambda a: [m["stateMachineArn"] for m in _pages(a.stepfunctions, "list_state_machines", "stateMachines")],
    "sagemaker model": lambda a: [m["ModelName"] for m in _pages(a.sagemaker, "list_models", "Models")],
    "sagemaker endpoint config": lambda a: [c["EndpointConfigName"] for c in
                                            _pages(a.sagemaker, "list_endpoint_configs", "EndpointConfigs")],
    "sagemaker endpoint": lambda a: [e["EndpointName"] for e in _pages(a.sagemaker, "list_endpoints", "Endpoints")],
    "sagemaker notebook instance": lambda a: [n["NotebookInstanceName"] for n in
                                              _pages(a.sagemaker, "list_notebook_instances", "NotebookInstances")],
    "sagemaker model package group": lambda a: [g["ModelPackageGroupName"] for g in
                                                _pages(a.sagemaker, "list_model_package_groups", "ModelPackageGroupSummaryList")],
    "api gateway rest api": lambda a: [x["id"] for x in _pages(a.apigateway, "get_rest_apis", "items")],
    "api gateway usage plan": lambda a: [x["id"] for x in _pages(a.apigateway, "get_usage_plans", "items")],
    "api gateway api key": lambda a: [x["id"] for x in _pages(a.apigateway, "get_api_keys", "items")],
    "sns topic": lambda a: [t["TopicArn"] for t in _pages(a.sns, "list_topics", "Topics")],
    "sqs queue": lambda a: a.sqs.list_queues().get("QueueUrls", []),
    "log group": lambda a: [g["logGroupName"] for g in _pages(a.logs, "describe_log_groups", "logGroups")],
    "ssm parameter": lambda a: [p["Name"] for p in _pages(a.ssm, "describe_parameters", "Parameters")],
    "kms key": _live_kms_keys,
    "kms alias": lambda a: [x["AliasName"] for x in _pages(a.kms, "list_aliases", "Aliases")
                            if not x["AliasName"].startswith("alias/aws/")],
    "cloudwatch alarm": lambda a: [m["AlarmName"] for m in _pages(a.cloudwatch, "describe_alarms", "MetricAlarms")],
    "eventbridge rule": lambda a: [r["Name"] for r in a.events.list_rules().get("Rules", [])],
    "autoscaling target": lambda a: [t["ResourceId"] for t in _pages(
        a.application_autoscaling, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="sagemaker")],
    "autoscaling policy": lambda a: [p["PolicyName"] for p in _pages(
        a.application_autoscaling, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace="sagemaker")],
}
# What each inventory kind is called in CloudFormation (to tie a leftover to its template resource).
INVENTORY_TYPES = {
    "s3 bucket": "AWS::S3::Bucket", "iam role": "AWS::IAM::Role", "iam managed policy": "AWS::IAM::ManagedPolicy",
    "lambda function": "AWS::Lambda::Function", "lambda layer": "AWS::Lambda::LayerVersion",
    "state machine": "AWS::StepFunctions::StateMachine", "sagemaker model": "AWS::SageMaker::Model",
    "sagemaker endpoint config": "AWS::SageMaker::EndpointConfig", "sagemaker endpoint": "AWS::SageMaker::Endpoint",
    "sagemaker notebook instance": "AWS::SageMaker::NotebookInstance",
    "sagemaker model package group": "AWS::SageMaker::ModelPackageGroup",
    "api gateway rest api": "AWS::ApiGateway::RestApi", "api gateway usage plan": "AWS::ApiGateway::UsagePlan",
    "api gateway api key": "AWS::ApiGateway::ApiKey", "sns topic": "AWS::SNS::Topic", "sqs queue": "AWS::SQS::Queue",
    "log group": "AWS::Logs::LogGroup", "ssm parameter": "AWS::SSM::Parameter", "kms key": "AWS::KMS::Key", "kms alias": "AWS::KMS::Alias",
    "cloudwatch alarm": "AWS::CloudWatch::Alarm", "eventbridge rule": "AWS::Events::Rule",
    "autoscaling target": "AWS::ApplicationAutoScaling::ScalableTarget",
    "autoscaling policy": "AWS::ApplicationAutoScaling::ScalingPolicy",
}

# Owned resource types that no inventory kind lists (moto cannot list them): probed one by one.
PROBES: Dict[str, Callable[[Clients, str], Any]] = {
    "AWS::SageMaker::NotebookInstanceLifecycleConfig": lambda a, p: a.sagemaker.describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=_name_of(p)),
}

Inventory = Dict[str, Set[str]]


def take_inventory(aws: Clients) -> Inventory:
    inventory: Inventory = {}
    for kind, lister in INVENTORY.items():
        try:
            inventory[kind] = set(lister(aws))
        except Exception as error:  # noqa: BLE001
            raise RehearsalError(f"could not list {kind}s: {_short(error)}") from error
    return inventory


@dataclass
class Owned:
    """A physical resource the app's stacks created at some point (deploy or update)."""

    stack: str
    logical: str
    resource_type: str
    physical: str


def owned_resources(deployed: Deployed) -> List[Owned]:
    owned = []
    for stack, found in deployed.resources.items():
        for logical, (rtype, physical) in found.items():
            if physical:
                owned.append(Owned(stack, logical, rtype, physical))
    return owned


def probe_owned(aws: Clients, owned: Sequence[Owned]) -> List["Leftover"]:
    """Owned resources of the PROBES types that still answer after destroy."""
    leftovers = []
    for item in owned:
        probe = PROBES.get(item.resource_type)
        if probe is None:
            continue
        try:
            probe(aws, item.physical)
        except Exception:  # noqa: BLE001 - not found: gone, as it should be
            continue
        leftovers.append(Leftover(item.resource_type, item.physical, None, f"deployed as {item.stack}/{item.logical}"))
    return leftovers


def referenced_by_outputs(stack: StackTemplate) -> Set[str]:
    """Logical ids an output refers to, directly or through what those resources refer to."""
    todo = set(references(stack.template.get("Outputs", {})))
    seen: Set[str] = set()
    while todo:
        logical = todo.pop()
        if logical in seen or logical not in stack.resources:
            continue
        seen.add(logical)
        todo |= references(stack.resources[logical].get("Properties", {}))
    return seen


@dataclass
class Leftover:
    kind: str
    ident: str
    gap: Optional[str]  # a KNOWN_GAPS key, or None when nothing explains it
    detail: str


def classify_leftovers(before: Inventory, deployed: Inventory, after: Inventory, stacks: Sequence[StackTemplate],
                       owned: Sequence[Owned]) -> Tuple[List[Leftover], List[str]]:
    """What destroy left behind, each explained by a known gap or not; and what went missing.

    ``before``: the account before the deploy; ``deployed``: just before the destroy;
    ``after``: after it.
    """
    by_physical: Dict[Tuple[str, str], Owned] = {}
    for item in owned:
        by_physical[(item.resource_type, item.physical)] = item
        by_physical[(item.resource_type, _name_of(item.physical))] = item
    functions = {_name_of(o.physical): o for o in owned if o.resource_type == "AWS::Lambda::Function"}
    templates = {s.name: s for s in stacks}
    leftovers: List[Leftover] = []
    for kind in INVENTORY:
        rtype = INVENTORY_TYPES.get(kind, "")
        for ident in sorted(after.get(kind, set()) - before.get(kind, set())):
            item = by_physical.get((rtype, ident)) or by_physical.get((rtype, _name_of(ident)))
            if item is not None:
                resource = templates.get(item.stack, StackTemplate(item.stack, {})).resources.get(item.logical, {})
                if resource.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate"):
                    leftovers.append(Leftover(kind, ident, "retained", f"{item.stack}/{item.logical}"))
                elif item.resource_type == "AWS::ApiGateway::RestApi":
                    leftovers.append(Leftover(kind, ident, "restapi-not-deleted", f"{item.stack}/{item.logical}"))
                else:
                    leftovers.append(Leftover(kind, ident, None, f"deployed as {item.stack}/{item.logical}"))
                continue
            if kind == "log group" and ident.startswith("/aws/lambda/") and ident[len("/aws/lambda/"):] in functions:
                function = functions[ident[len("/aws/lambda/"):]]
                leftovers.append(Leftover(kind, ident, "runtime-log-group",
                                          f"of {function.stack}/{function.logical}"))
                continue
            # Not there while deployed, there after the destroy: made during the delete. moto does
            # that for what a deleted stack's outputs refer to (the CLI describes the stack).
            appeared = ident not in deployed.get(kind, set())
            recreated = sorted({f"{stack.name}/{logical}" for stack in stacks for logical in referenced_by_outputs(stack)
                                if stack.resources[logical].get("Type") == rtype})
            named = [r for r in recreated if _name_of(ident).lower().startswith(r.replace("/", "-").lower() + "-")]
            if appeared and (named or recreated):
                leftovers.append(Leftover(kind, ident, "recreated-by-outputs",
                                          (named or [" or ".join(recreated)])[0] + ", appeared during the destroy"))
            else:
                leftovers.append(Leftover(kind, ident, None, "appeared during the destroy" if appeared
                                          else "not created by the app's stacks"))
    missing = [f"{kind}: {ident}" for kind in INVENTORY
               for ident in sorted(before.get(kind, set()) - after.get(kind, set()))]
    return leftovers, missing


# ----------------------------------------------------------------------------- the run

PHASES = ("start", "bootstrap", "synth", "stage", "inventory", "deploy", "check", "update", "destroy", "teardown",
          "redeploy", "destroy_again", "teardown_again")
PHASE_TITLES = {
    "start": "start emulator", "bootstrap": "bootstrap", "synth": "synth",
    "stage": "stage model artifact and layers", "inventory": "inventory before", "deploy": "deploy",
    "check": "check", "update": "update", "destroy": "destroy", "teardown": "inventory after destroy",
    "redeploy": "deploy again after destroy", "destroy_again": "destroy again",
    "teardown_again": "inventory after the second destroy",
    "stop": "stop emulator",
}


def ssm_parameter_defaults(assembly: Path, stack: str) -> Dict[str, str]:
    """The template's SSM-typed parameters with their defaults, passed explicitly on deploy.

    On an update the CLI sends ``UsePreviousValue`` for a parameter left at its default; moto
    stores only parameters given on create and fails the update with a KeyError. Passing the
    default (the SSM parameter's name) is what CloudFormation would use anyway; it still
    resolves the parameter's current value on every deploy.
    """
    for template in read_assembly(assembly):
        if template.name == stack:
            return {name: spec["Default"] for name, spec in template.template.get("Parameters", {}).items()
                    if str(spec.get("Type", "")).startswith("AWS::SSM::Parameter::Value") and name != "BootstrapVersion"
                    and "Default" in spec}
    return {}


def placeholder_version(generation: int) -> str:
    """The placeholder's ``model_version`` (16 hex digits, like train.py's parameter hash)."""
    return hashlib.sha256(f"devtools.rehearsal placeholder {generation}".encode()).hexdigest()[:16]


def placeholder_artifact(generation: int = 0) -> bytes:
    """A small model.tar.gz with the contract's layout; the emulator never runs it."""
    files = {
        "PLACEHOLDER": b"Staged by devtools.rehearsal: not a trained model.\n",
        "labels.json": json.dumps({"labels": ["b", "t", "e", "m"]}).encode(),
        "metrics.json": json.dumps({"model_version": placeholder_version(generation)}).encode(),
        "code/inference.py": b"# placeholder\n",
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _flat(value: Any) -> Optional[str]:
    """A template string with pseudo parameters resolved, or None when it depends on resources."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                "AWS::URLSuffix": "amazonaws.com"}.get(value["Ref"])
    if isinstance(value, dict) and "Fn::Join" in value:
        parts = [_flat(v) for v in value["Fn::Join"][1]]
        return None if None in parts else value["Fn::Join"][0].join(parts)  # type: ignore[arg-type]
    return None


_LAYER_ARN = re.compile(r"^arn:[^:]+:lambda:[^:]+:(?P<account>\d{12}):layer:(?P<name>[^:]+):(?P<version>\d+)$")


def external_layers(stacks: Sequence[StackTemplate]) -> Dict[str, int]:
    """Layer name -> highest version, of the layers of other accounts that the functions use."""
    layers: Dict[str, int] = {}
    for stack in stacks:
        for resource in stack.of_type("AWS::Lambda::Function").values():
            for layer in resource.get("Properties", {}).get("Layers", []) or []:
                match = _LAYER_ARN.match(_flat(layer) or "")
                if match and match.group("account") != ACCOUNT:
                    name, version = match.group("name"), int(match.group("version"))
                    layers[name] = max(version, layers.get(name, 0))
    return layers


def _tiny_zip() -> bytes:
    import zipfile

    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        archive.writestr("python/PLACEHOLDER", "staged by devtools.rehearsal\n")
    return raw.getvalue()


def _fix_kms_key_tags(template: Dict[str, Any]) -> List[str]:
    """moto's CloudFormation KMS key fails on Key/Value tags (its tagger wants TagKey/TagValue)."""
    changed = []
    for logical, resource in template.get("Resources", {}).items():
        tags = resource.get("Properties", {}).get("Tags") if resource.get("Type") == "AWS::KMS::Key" else None
        if tags and all("Key" in tag for tag in tags):
            resource["Properties"]["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tags]
            changed.append(logical)
    return changed


# SageMaker types whose explicit name moto ignores (it generates one), with their name property.
SAGEMAKER_NAMES = {
    "AWS::SageMaker::Model": "ModelName",
    "AWS::SageMaker::EndpointConfig": "EndpointConfigName",
    "AWS::SageMaker::Endpoint": "EndpointName",
    "AWS::SageMaker::NotebookInstance": "NotebookInstanceName",
    "AWS::SageMaker::NotebookInstanceLifecycleConfig": "NotebookInstanceLifecycleConfigName",
}


def _fix_sagemaker_names(template: Dict[str, Any]) -> List[str]:
    """Literal references to an explicitly named SageMaker resource become GetAtt of its name.

    moto ignores the explicit name and generates another, so a literal reference (say a
    variant's ``ModelName``) would name nothing; in AWS the two are the same string.
    """
    resources = template.get("Resources", {})
    names = {}
    for logical, resource in resources.items():
        prop = SAGEMAKER_NAMES.get(resource.get("Type", ""))
        value = resource.get("Properties", {}).get(prop) if prop else None
        if isinstance(value, str):
            names[value] = (logical, prop)
    changed: List[str] = []

    def rewrite(node: Any, owner: str, path: Tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            return {k: rewrite(v, owner, path + (k,)) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v, owner, path) for v in node]
        if isinstance(node, str) and node in names and names[node][0] != owner:
            logical, prop = names[node]
            if SAGEMAKER_NAMES.get(resources[owner].get("Type", "")) or path[-1:] != ("Tags",):
                changed.append(f"{owner}.{'.'.join(path)}")
                return {"Fn::GetAtt": [logical, prop]}
        return node

    if names:
        for logical, resource in resources.items():
            if "Properties" in resource:
                resource["Properties"] = rewrite(resource["Properties"], logical, ())
    return changed


def _fix_unemulated_getatt(template: Dict[str, Any]) -> List[str]:
    """A GetAtt of a resource moto skips (here AWS::SageMaker::CodeRepository) becomes the
    literal value of that resource's same-named property, which is what AWS would return."""
    resources = template.get("Resources", {})
    skipped = {logical for logical, resource in resources.items() if not moto_supported(resource.get("Type", ""))}
    changed: List[str] = []

    def rewrite(node: Any, owner: str, path: Tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            target = node.get("Fn::GetAtt") if len(node) == 1 else None
            if isinstance(target, list) and len(target) == 2 and target[0] in skipped:
                literal = resources[target[0]].get("Properties", {}).get(target[1])
                if isinstance(literal, str):
                    changed.append(f"{owner}.{'.'.join(path)}")
                    return literal
            return {k: rewrite(v, owner, path + (k,)) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v, owner, path) for v in node]
        return node

    if skipped:
        for logical, resource in resources.items():
            if "Properties" in resource and logical not in skipped:
                resource["Properties"] = rewrite(resource["Properties"], logical, ())
    return changed


def _fix_ssm_parameter_tags(template: Dict[str, Any]) -> List[str]:
    """``AWS::SSM::Parameter`` Tags (a map in CloudFormation) as a Key/Value list: moto's handler
    passes them to PutParameter, which wants the list, and fails on the map."""
    changed = []
    for logical, resource in template.get("Resources", {}).items():
        tags = resource.get("Properties", {}).get("Tags") if resource.get("Type") == "AWS::SSM::Parameter" else None
        if isinstance(tags, dict):
            resource["Properties"]["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
            changed.append(logical)
    return changed


def _fix_integration_fields(template: Dict[str, Any]) -> List[str]:
    """moto's CloudFormation Method requires IntegrationHttpMethod and Uri (CORS MOCK methods have neither)."""
    changed = []
    for logical, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        integration = props.get("Integration") if resource.get("Type") == "AWS::ApiGateway::Method" else None
        if isinstance(integration, dict) and ("IntegrationHttpMethod" not in integration or "Uri" not in integration):
            integration.setdefault("IntegrationHttpMethod", props.get("HttpMethod", "POST"))
            integration.setdefault("Uri", "")
            changed.append(logical)
    return changed


# Rewrites of the synthesized templates, only for the emulator, each with why (docs/rehearsal.md).
EMULATOR_FIXUPS: List[Tuple[str, str, Callable[[Dict[str, Any]], List[str]]]] = [
    ("kms-key-tags", "AWS::KMS::Key Tags rewritten as TagKey/TagValue: moto's CloudFormation fails on "
                     "the Key/Value form and reports the key as an undefined resource", _fix_kms_key_tags),
    ("sagemaker-names", "a literal SageMaker resource name rewritten as GetAtt of that resource's name: moto "
                        "ignores explicit SageMaker names (it generates its own), so the literal names nothing",
     _fix_sagemaker_names),
    ("integration-fields", "IntegrationHttpMethod and an empty Uri added to an integration without them (the "
                           "MOCK integrations of CORS preflights): moto's CloudFormation Method fails without them",
     _fix_integration_fields),
    ("unemulated-getatt", "a GetAtt of a resource type moto's CloudFormation skips (AWS::SageMaker::CodeRepository) "
                          "rewritten as the literal name it would return", _fix_unemulated_getatt),
    ("ssm-parameter-tags", "AWS::SSM::Parameter Tags rewritten from a map to a Key/Value list: moto's "
                           "CloudFormation handler fails on the map", _fix_ssm_parameter_tags),
]


def apply_fixups(out_dir: Path) -> List[str]:
    """Apply EMULATOR_FIXUPS to the templates of an assembly in place; what was changed."""
    applied = []
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        path = out_dir / artifact["properties"]["templateFile"]
        template = json.loads(path.read_text(encoding="utf-8"))
        notes = []
        for name, _why, fixup in EMULATOR_FIXUPS:
            notes += [f"{name}: {artifact_id}/{logical}" for logical in fixup(template)]
        if notes:
            path.write_text(json.dumps(template, indent=1), encoding="utf-8")
            applied += notes
    return applied


class Rehearsal:
    def __init__(self, app_dir: Path, workdir: Path, endpoint_url: Optional[str], budget: float,
                 stage: str = "dev") -> None:
        self.app_dir = app_dir
        # The README's stage override (-c headlines.stage=prod), nothing else.
        self.stage_context = {} if stage == "dev" else {"headlines.stage": stage}
        self.workdir = workdir
        self.deadline = Deadline(budget)
        self.attached_url = endpoint_url
        self.emulator: Optional[Emulator] = None
        self.outputs = workdir / "outputs.json"
        self.state_path = workdir / "state.json"
        self.timings: List[Tuple[str, float]] = []
        self._aws: Optional[Clients] = None
        self._cdk: Optional[Cdk] = None
        self.current = "setup"

    # -- plumbing
    @property
    def url(self) -> str:
        if self.attached_url:
            return self.attached_url
        if self.emulator is None:
            raise RehearsalError("no emulator (run the start phase or pass --endpoint-url)")
        return self.emulator.url

    @property
    def aws(self) -> Clients:
        if self._aws is None:
            self._aws = clients(self.url)
        return self._aws

    @property
    def cdk(self) -> Cdk:
        if self._cdk is None:
            self._cdk = Cdk(self.app_dir, self.workdir, self.url, self.deadline)
        return self._cdk

    def context(self, changed: Mapping[str, str] = ()) -> Dict[str, str]:
        return {**REHEARSAL_CONTEXT, **self.stage_context, **dict(changed)}

    @property
    def model_data_url(self) -> str:
        """The model approved last (the first placeholder until the update approves another)."""
        return self.state().get("model_data_url", f"s3://{ARTIFACT_BUCKET}/{ARTIFACT_KEYS[0]}")

    def state(self) -> Dict[str, Any]:
        if self.state_path.exists():
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        return {}

    def save_state(self, **values: Any) -> None:
        state = self.state()
        state.update(values)
        self.state_path.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")

    @property
    def assembly(self) -> Path:
        """The cloud assembly deployed last (or synthesized, before any deploy)."""
        return Path(self.state().get("assembly", self.workdir / "cdk.out"))

    # -- phases
    def phase_start(self) -> None:
        if self.attached_url:
            say(f"  using the emulator at {self.attached_url}")
            return
        self.emulator = Emulator(self.workdir / "logs" / "moto_server.log")
        self.emulator.start(timeout=min(30.0, self.deadline.left()))
        say(f"  moto_server pid {self.emulator.process.pid} on {self.emulator.url}")

    def phase_bootstrap(self) -> None:
        self.cdk.bootstrap()
        say(f"  aws://{ACCOUNT}/{REGION} bootstrapped")

    def _synth(self, log_name: str, changed: Mapping[str, str], out_dir: Path) -> List[StackTemplate]:
        self.cdk.synth(log_name, self.context(changed), out_dir)
        stacks = read_assembly(out_dir)
        say(f"  {', '.join(s.name for s in stacks)} synthesized to {out_dir}")
        fixups = apply_fixups(out_dir)
        if fixups:
            say(f"  rewritten for the emulator: {', '.join(fixups)}")
            self.save_state(fixups=sorted(set(self.state().get("fixups", [])) | set(fixups)))
        return read_assembly(out_dir)

    def phase_synth(self) -> None:
        self._synth("synth", {}, self.workdir / "cdk.out")
        self.save_state(assembly=str(self.workdir / "cdk.out"), changed={})

    def _stage_layers(self, stacks: Sequence[StackTemplate]) -> None:
        """Placeholder versions of the public layers the functions use (Powertools).

        moto ignores Layers when CloudFormation creates a function but resolves them when it
        updates one, by layer name and version in the deploying account only: the public
        layer of AWS's account is staged under its name in the emulated account.
        """
        for name, version in sorted(external_layers(stacks).items()):
            versions = _pages(self.aws.lambda_, "list_layer_versions", "LayerVersions", LayerName=name)
            for _ in range(max((v["Version"] for v in versions), default=0), version):
                self.aws.lambda_.publish_layer_version(
                    LayerName=name, Description="placeholder staged by devtools.rehearsal",
                    Content={"ZipFile": _tiny_zip()}, CompatibleRuntimes=["python3.12"])
            say(f"  placeholder layer {name}:{version} (a public layer of another account)")

    def phase_stage(self) -> None:
        s3 = self.aws.s3
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=ARTIFACT_BUCKET)
        for generation, key in enumerate(ARTIFACT_KEYS):
            s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=placeholder_artifact(generation))
            say(f"  placeholder artifact s3://{ARTIFACT_BUCKET}/{key} (model_version {placeholder_version(generation)})")
        self._stage_layers(read_assembly(self.assembly))

    def phase_inventory(self) -> None:
        before = take_inventory(self.aws)
        self.save_state(inventory_before={k: sorted(v) for k, v in before.items()})
        say("  " + ", ".join(f"{len(v)} {k}" for k, v in before.items() if v))

    def approve(self, generation: int, changed: Mapping[str, str]) -> None:
        """Stand-in for ``headlines pipeline start --wait``: what its publish step writes."""
        from headlines.file_modules import load_lambda

        cfg = load_config({**self.stage_context, **dict(changed)})
        url = f"s3://{ARTIFACT_BUCKET}/{ARTIFACT_KEYS[generation]}"
        # The version as the pipeline's model-identity function reads it from the artifact.
        identity = load_lambda("model_identity", "model_identity")
        version = identity.handler({"model_data_url": url}, None, client=self.aws.s3)
        ssm = self.aws.ssm
        ssm.put_parameter(Name=serving_model_parameter(cfg), Value=serving_model_value(version, url), Type="String", Overwrite=True)
        record = {"model_data_url": url, "model_version": version, "metrics": {}, "execution_id": "rehearsal"}
        ssm.put_parameter(Name=approved_model_parameter(cfg), Value=json.dumps(record), Type="String", Overwrite=True)
        self.save_state(model_data_url=url, model_version=version)
        say(f"  approved (stand-in for the pipeline run): {serving_model_parameter(cfg)} = {version} {url}")

    def _deploy(self, log_name: str, assembly: Path, generation: int = 0, changed: Mapping[str, str] = ()) -> Deployed:
        """The README's sequence: deploy the pipeline stack, approve a model, deploy serving."""
        names = [s.name for s in read_assembly(assembly)]
        pipeline = next(n for n in names if n.endswith("Pipeline"))
        serving = next(n for n in names if n.endswith("Serving"))
        merged: Dict[str, Any] = {}
        with CustomResourceResponder(self.url, self.aws) as responder:
            for step, stack in (("pipeline", pipeline), ("serving", serving)):
                if step == "serving":
                    self.approve(generation, changed)
                part = self.workdir / f"outputs-{stack}.json"
                self.cdk.deploy(f"{log_name}-{step}", assembly, stack, part, ssm_parameter_defaults(assembly, stack))
                merged.update(json.loads(part.read_text(encoding="utf-8")) if part.exists() else {})
        self.outputs.write_text(json.dumps(merged, indent=1), encoding="utf-8")
        answered = sorted(set(self.state().get("custom_resources", [])) | set(responder.answered))
        self.save_state(assembly=str(assembly), custom_resources=answered)
        if responder.answered:
            say(f"  custom resources answered SUCCESS by the rehearsal (their code did not run): "
                f"{', '.join(responder.answered)}")
        deployed = read_deployed(self.aws, assembly, self.outputs)
        owned = self.state().get("owned", []) + [vars(o) for o in owned_resources(deployed)]
        self.save_state(owned=owned)
        for stack in deployed.stacks:
            say(f"  {stack.name}: {deployed.status.get(stack.name)}, "
                f"{len(deployed.resources.get(stack.name, {}))} resources, "
                f"{len(deployed.outputs.get(stack.name, {}))} outputs")
        return deployed

    def phase_deploy(self) -> None:
        self._deploy("deploy", self.assembly)

    def expectations(self, changed: Mapping[str, str]) -> Expectations:
        return Expectations(load_config({**self.stage_context, **dict(changed)}), self.model_data_url, expected_routes(), changed,
                            model_version=self.state().get("model_version"))

    def _report(self, results: List[Result]) -> None:
        whys = {name: why for name, why, _ in EMULATOR_FIXUPS}
        for fixup in self.state().get("fixups", []):
            name, where = fixup.split(": ", 1)
            results.append(Result(f"emulator-fixup[{where}]", "GAP", "the template as synthesized", whys[name]))
        answered = self.state().get("custom_resources", [])
        if answered:
            results.append(Result("custom-resources", "GAP", "their providers run",
                                  f"answered SUCCESS by the rehearsal, code not run: {', '.join(answered)}"))
        report(results)

    def phase_check(self) -> None:
        changed = self.state().get("changed", {})
        deployed = read_deployed(self.aws, self.assembly, self.outputs)
        self._report(run_checks(self.aws, deployed, self.expectations(changed)))

    def phase_update(self) -> None:
        before = read_deployed(self.aws, self.assembly, self.outputs)
        out_dir = self.workdir / "cdk.out.update"
        self._stage_layers(self._synth("synth-update", UPDATE_OVERRIDES, out_dir))
        say("  changed: " + ", ".join(f"{k}={v}" for k, v in UPDATE_OVERRIDES.items()))
        self.save_state(changed=dict(UPDATE_OVERRIDES))
        previous = self.model_data_url
        deployed = self._deploy("update", out_dir, generation=1, changed=UPDATE_OVERRIDES)
        exp = self.expectations(UPDATE_OVERRIDES)
        exp.previous_model_data_url = previous
        self._report(update_results(self.aws, before, deployed, exp) + run_checks(self.aws, deployed, exp))

    def phase_destroy(self) -> None:
        deployed = take_inventory(self.aws)
        self.save_state(inventory_deployed={k: sorted(v) for k, v in deployed.items()})
        with CustomResourceResponder(self.url, self.aws):
            self.cdk.destroy(self.assembly)
        statuses = {}
        summaries = _pages(self.aws.cloudformation, "list_stacks", "StackSummaries")
        for stack in read_assembly(self.assembly):
            mine = [s for s in summaries if s["StackName"] == stack.name]
            alive = [s for s in mine if s["StackStatus"] != "DELETE_COMPLETE"]
            statuses[stack.name] = alive[0]["StackStatus"] if alive else "DELETE_COMPLETE" if mine else "never created"
        alive = {k: v for k, v in statuses.items() if v != "DELETE_COMPLETE"}
        say("  " + ", ".join(f"{k}: {v}" for k, v in statuses.items()))
        if alive:
            raise RehearsalError(f"stacks not deleted: {alive}")

    def phase_redeploy(self) -> None:
        """Deploy again after the destroy (first assembly, first model): nothing may clash."""
        # What the first destroy left (known gaps only, or it would have failed) is the
        # baseline of the second inventory diff.
        baseline = take_inventory(self.aws)
        self.save_state(changed={}, inventory_before_redeploy={k: sorted(v) for k, v in baseline.items()})
        out_dir = self.workdir / "cdk.out"
        self._stage_layers(read_assembly(out_dir))
        deployed = self._deploy("redeploy", out_dir)
        self._report(run_checks(self.aws, deployed, self.expectations({})))

    def phase_destroy_again(self) -> None:
        self.phase_destroy()

    def phase_teardown_again(self) -> None:
        self.phase_teardown("inventory_before_redeploy")

    def phase_teardown(self, baseline: str = "inventory_before") -> None:
        state = self.state()
        if baseline not in state:
            raise RehearsalError("no inventory from before the deploy (run the inventory phase)")
        before = {k: set(v) for k, v in state[baseline].items()}
        deployed = {k: set(v) for k, v in state.get("inventory_deployed", {}).items()}
        after = take_inventory(self.aws)
        owned = [Owned(**o) for o in state.get("owned", [])]
        stacks = read_assembly(self.workdir / "cdk.out") + [
            s for s in read_assembly(self.assembly) if self.assembly != self.workdir / "cdk.out"]
        leftovers, missing = classify_leftovers(before, deployed, after, stacks, owned)
        leftovers += probe_owned(self.aws, owned)
        for item in leftovers:
            tag = "GAP " if item.gap else "FAIL"
            why = KNOWN_GAPS[item.gap] if item.gap else "not explained by a known emulator gap"
            say(f"  {tag}  left behind: {item.kind} {item.ident} ({item.detail}): {why}")
        for item in missing:
            say(f"  FAIL  gone though it existed before the deploy: {item}")
        unexplained = [item for item in leftovers if item.gap is None]
        say(f"  {len(leftovers) - len(unexplained)} known gaps, {len(unexplained)} unexplained leftovers, "
            f"{len(missing)} missing")
        if unexplained:
            first = unexplained[0]
            raise RehearsalError(f"destroy left {len(unexplained)} resources behind; first: "
                                 f"{first.kind} {first.ident} ({first.detail})")
        if missing:
            raise RehearsalError(f"destroy removed what existed before the deploy: {missing[0]}")

    def stop(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None

    def run(self, phases: Sequence[str]) -> None:
        for name in PHASES:
            if name not in phases:
                continue
            title = PHASE_TITLES[name]
            self.current = title
            say(f"== {title}")
            started = time.monotonic()
            try:
                getattr(self, f"phase_{name}")()
            except RehearsalError as error:
                error.phase = title  # type: ignore[attr-defined]
                raise
            except (KeyboardInterrupt, Interrupted):
                raise
            except Exception as error:  # noqa: BLE001 - one clear line, never a traceback
                failure = RehearsalError(f"{type(error).__name__}: {_short(error)}")
                failure.phase = title  # type: ignore[attr-defined]
                raise failure from error
            finally:
                elapsed = time.monotonic() - started
                self.timings.append((title, elapsed))
            say(f"   {title}: done in {elapsed:.1f} s")


def update_results(aws: Clients, before: Deployed, after: Deployed, exp: Expectations) -> List[Result]:
    """Did the changed settings land? (UPDATE_OVERRIDES names them.)"""
    results = []
    old_configs = {(s, l): p for s, l, _r, p in before.of_type("AWS::SageMaker::EndpointConfig")}
    for stack, logical, _resource, physical in after.of_type("AWS::SageMaker::EndpointConfig"):
        old = old_configs.get((stack, logical), "")
        try:
            variants = aws.sagemaker.describe_endpoint_config(
                EndpointConfigName=_name_of(physical))["ProductionVariants"]
            types = [v.get("InstanceType") for v in variants]
        except Exception as error:  # noqa: BLE001
            types = [_short(error)]
        wanted = exp.config.serving.instance_type
        results.append(_result(
            f"update.endpoint-config[{stack}/{logical}]", physical != old and types == [wanted],
            f"replaced by a new configuration with {wanted} (blue/green)",
            f"{'new' if physical != old else 'same'} configuration {_name_of(physical)} with {types}"))
    wanted_chars = str(exp.config.api.max_headline_chars)
    holders = []
    for stack, logical, _resource, physical in after.of_type("AWS::Lambda::Function"):
        try:
            env = aws.lambda_.get_function_configuration(FunctionName=physical).get("Environment", {}).get("Variables", {})
        except Exception:  # noqa: BLE001
            continue
        holders += [f"{logical}.{k}={v}" for k, v in env.items() if "HEADLINE" in k.upper() and "CHAR" in k.upper()]
    results.append(_result("update.api-function-setting", any(h.endswith("=" + wanted_chars) for h in holders),
                           f"the API function's max headline length is {wanted_chars}",
                           ", ".join(holders) or "no function carries it"))
    return results


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Interrupted()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.rehearsal",
        description="Rehearse cdk deploy / update / destroy offline against moto's server.")
    parser.add_argument("--app-dir", type=Path, default=REPO_ROOT, help="the CDK app (default: this repo)")
    parser.add_argument("--workdir", type=Path, help="keep cdk.out, outputs and logs here (default: a temp dir, "
                        "removed after a pass)")
    parser.add_argument("--endpoint-url", help="use this running emulator instead of starting one")
    parser.add_argument("--phases", help=f"comma-separated subset of {','.join(PHASES)} (default: all)")
    parser.add_argument("--stage", choices=("dev", "prod"), default="dev",
                        help="rehearse this stage (prod: -c headlines.stage=prod, as the README says)")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_SECONDS,
                        help="seconds for the whole run (default: %(default)s)")
    args = parser.parse_args(argv)
    phases = PHASES if not args.phases else tuple(p.strip() for p in args.phases.split(",") if p.strip())
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        parser.error(f"unknown phases {unknown}; choose from {', '.join(PHASES)}")
    if "start" not in phases and not args.endpoint_url:
        parser.error("without the start phase, pass --endpoint-url of a running emulator")

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="headlines-rehearsal-")) if temporary else args.workdir.resolve()
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    rehearsal = Rehearsal(args.app_dir.resolve(), workdir, args.endpoint_url, args.budget, args.stage)
    # Ctrl-C and SIGTERM end the run through the same cleanup (even when started with SIGINT ignored).
    previous = {sig: signal.signal(sig, handler) for sig, handler in
                ((signal.SIGTERM, _on_sigterm), (signal.SIGHUP, _on_sigterm), (signal.SIGINT, signal.default_int_handler))}
    started = time.monotonic()
    code = 0
    phase = "start"
    try:
        say(f"rehearsal: {', '.join(phases)} (work dir {workdir}, budget {args.budget:.0f} s)")
        rehearsal.run(phases)
    except RehearsalError as error:
        phase = getattr(error, "phase", "setup")
        for line in error.detail:
            say(f"   | {line}")
        code = 1
        failure = f"rehearsal failed in {phase}: {error.what}"
    except (KeyboardInterrupt, Interrupted):
        phase = rehearsal.current
        code = 130
        failure = f"rehearsal failed in {phase}: interrupted"
    finally:
        stop_started = time.monotonic()
        had_emulator = rehearsal.emulator is not None
        rehearsal.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if had_emulator:
            rehearsal.timings.append((PHASE_TITLES["stop"], time.monotonic() - stop_started))
            say(f"== {PHASE_TITLES['stop']}: done in {time.monotonic() - stop_started:.1f} s")
    say("phase timings: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in rehearsal.timings))
    if code:
        say(f"   (work dir kept: {workdir})")
        print(failure, file=sys.stderr, flush=True)
        return code
    if temporary:
        shutil.rmtree(workdir, ignore_errors=True)
    say(f"rehearsal passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
