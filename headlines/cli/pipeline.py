"""``headlines pipeline start [--wait]`` and ``headlines pipeline status``: the deployed pipeline.

The state machine is found through the pipeline stack's CloudFormation output
``StateMachineArn``. ``start --wait`` follows the execution: it prints each state as it is
entered, the SageMaker training jobs' progress (``SecondaryStatus``), and ends with the
approved model (and how to deploy it) or the failure's cause. Problems (no credentials, no
region, stack not deployed...) end with one ``error: ...`` line and a non-zero exit.

Only boto3 is needed; the AWS clients are injectable for tests (botocore's Stubber).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, TextIO

from headlines.naming import OUTPUT_STATE_MACHINE_ARN

RUNNING = "RUNNING"
TERMINAL_JOB_STATUSES = ("Completed", "Failed", "Stopped")
DEFAULT_POLL_SECONDS = 15.0


@dataclass
class Clients:
    cloudformation: Any
    stepfunctions: Any
    sagemaker: Any
    ssm: Any = None  # headlines batch: the serving pointer
    s3: Any = None  # headlines batch: is the input there?

    @classmethod
    def create(cls, region: Optional[str] = None) -> "Clients":
        import boto3

        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
        session = boto3.session.Session(region_name=region)
        if not session.region_name:
            raise SystemExit("error: no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION) or pass --region")
        return cls(
            cloudformation=session.client("cloudformation"),
            stepfunctions=session.client("stepfunctions"),
            sagemaker=session.client("sagemaker"),
            ssm=session.client("ssm"),
            s3=session.client("s3"),
        )


def default_stack() -> str:
    from headlines.config import load_config
    from headlines.naming import pipeline_stack_name

    return pipeline_stack_name(load_config())


def serving_stack_for(pipeline_stack: str) -> str:
    return pipeline_stack[: -len("Pipeline")] + "Serving" if pipeline_stack.endswith("Pipeline") else pipeline_stack + "Serving"


def _aws_error(exc: Exception, doing: str) -> SystemExit:
    """One readable line for any botocore failure."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    if isinstance(exc, NoCredentialsError):
        return SystemExit(f"error: no AWS credentials found while {doing}: configure them (aws configure, AWS_PROFILE, ...)")
    if isinstance(exc, NoRegionError):
        return SystemExit("error: no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION) or pass --region")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return SystemExit(f"error: {doing}: {error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip())
    if isinstance(exc, BotoCoreError):
        return SystemExit(f"error: {doing}: {exc}")
    return SystemExit(f"error: {doing}: {exc}")


def _call(doing: str, fn: Callable[..., Dict[str, Any]], **kwargs) -> Dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise _aws_error(exc, doing) from None


def find_state_machine(clients: Clients, stack: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = clients.cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        if "does not exist" in message:
            raise SystemExit(
                f"error: stack {stack} is not deployed in this account/region: deploy it first with "
                f"`npx cdk deploy {stack}` (or pass --stack NAME)"
            ) from None
        raise _aws_error(exc, f"reading stack {stack}") from None
    except BotoCoreError as exc:
        raise _aws_error(exc, f"reading stack {stack}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs") or [])} if stacks else {}
    arn = outputs.get(OUTPUT_STATE_MACHINE_ARN)
    if not arn:
        status = stacks[0].get("StackStatus", "unknown") if stacks else "missing"
        raise SystemExit(f"error: stack {stack} ({status}) has no {OUTPUT_STATE_MACHINE_ARN} output: is it the pipeline stack?")
    return arn


def _history(clients: Clients, execution_arn: str) -> List[Dict[str, Any]]:
    events: List[Dict[str, Any]] = []
    token: Optional[str] = None
    while True:
        kwargs: Dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = _call("reading the execution history", clients.stepfunctions.get_execution_history, **kwargs)
        events.extend(page.get("events", []))
        token = page.get("nextToken")
        if not token:
            return events


def _training_job_name(event: Dict[str, Any]) -> Optional[str]:
    details = event.get("taskSubmittedEventDetails") or {}
    if details.get("resourceType") != "sagemaker":
        return None
    try:
        arn = json.loads(details.get("output") or "{}").get("TrainingJobArn", "")
    except ValueError:
        return None
    return arn.rsplit("/", 1)[-1] or None


class Follower:
    """Prints an execution's progress, one poll at a time."""

    def __init__(self, clients: Clients, execution_arn: str, out: TextIO) -> None:
        self.clients = clients
        self.execution_arn = execution_arn
        self.out = out
        self.seen_events = 0
        self.jobs: Dict[str, Optional[str]] = {}  # job name -> last printed secondary status
        self.current_state: Optional[str] = None

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def poll(self) -> Dict[str, Any]:
        """One round: training job progress, then new states; returns DescribeExecution."""
        self._update_jobs()  # a job that just finished is reported before the states after it
        if self._read_events():
            self._update_jobs()
        return _call("describing the execution", self.clients.stepfunctions.describe_execution, executionArn=self.execution_arn)

    def _read_events(self) -> bool:
        """Print the states entered since the last poll; True when a new training job appeared."""
        new_job = False
        for event in _history(self.clients, self.execution_arn)[self.seen_events:]:
            self.seen_events += 1
            if event.get("type", "").endswith("StateEntered"):
                self.current_state = event["stateEnteredEventDetails"]["name"]
                self._print(f"-> {self.current_state}")
            job = _training_job_name(event)
            if job and job not in self.jobs:
                self.jobs[job] = None
                new_job = True
                self._print(f"   training job {job}")
        return new_job

    def _update_jobs(self) -> None:
        for job, last in list(self.jobs.items()):
            if last in TERMINAL_JOB_STATUSES:
                continue
            described = _call(f"describing training job {job}", self.clients.sagemaker.describe_training_job, TrainingJobName=job)
            status = described.get("SecondaryStatus") or described.get("TrainingJobStatus")
            if status != last:
                self.jobs[job] = status
                detail = ""
                transitions = described.get("SecondaryStatusTransitions") or []
                if transitions and transitions[-1].get("StatusMessage"):
                    detail = f" ({transitions[-1]['StatusMessage']})"
                self._print(f"   {job}: {status}{detail}")


def report_result(execution: Dict[str, Any], stack: str, out: TextIO) -> int:
    status = execution["status"]
    if status == "SUCCEEDED":
        try:
            approved = json.loads(execution.get("output") or "{}")
        except ValueError:
            approved = {}
        package = approved.get("model_package") or {}
        pending = package.get("status") == "PendingManualApproval"
        state = "registered, awaiting approval" if pending else "model approved"
        print(f"succeeded: {state}: {approved.get('model_data_url', '(see the execution output)')}", file=out)
        if approved.get("model_version"):
            print(f"   model_version {approved['model_version']}", file=out)
        if package.get("arn"):
            print(f"   model package {package['arn']} ({package.get('status')})", file=out)
        metrics = approved.get("metrics") or {}
        if metrics:
            print("   " + "  ".join(f"{k}={v}" for k, v in sorted(metrics.items())), file=out)
        gate = approved.get("gate") or {}
        if gate:
            champion = gate.get("champion")
            print(f"   gate: {gate.get('metric')} {gate.get('value')} vs champion "
                  f"{'none' if champion is None else champion} ({gate.get('champion_version', 'none')}) on the same "
                  f"{gate.get('test_rows', '?')} rows (sha256 {str(gate.get('test_rows_sha256', '?'))[:12]}), threshold "
                  f"{gate.get('threshold')}, tolerance {gate.get('tolerance')}: {gate.get('verdict', 'promote')}", file=out)
        if pending:
            print(f"next: headlines model approve {approved.get('model_version', 'VERSION')} --aws, "
                  f"then npx cdk deploy {serving_stack_for(stack)}", file=out)
        else:
            print(f"next: npx cdk deploy {serving_stack_for(stack)}", file=out)
        return 0
    if status == RUNNING:
        print(f"running: {execution['executionArn']}", file=out)
        return 0
    error = execution.get("error") or status
    cause = (execution.get("cause") or "").strip()
    raise SystemExit(f"error: pipeline {status.lower().replace('_', ' ')}: {error}" + (f": {cause}" if cause else ""))


def poll_until(poll: Callable[[], Dict[str, Any]], done: Callable[[Dict[str, Any]], bool], poll_seconds: float,
               sleep: Callable[[float], None] = time.sleep) -> Dict[str, Any]:
    """The follow loop of ``pipeline start --wait`` and ``headlines batch``: poll until done."""
    while True:
        state = poll()
        if done(state):
            return state
        sleep(poll_seconds)


def follow(clients: Clients, execution_arn: str, stack: str, out: TextIO = sys.stdout,
           poll_seconds: float = DEFAULT_POLL_SECONDS, sleep: Callable[[float], None] = time.sleep) -> int:
    follower = Follower(clients, execution_arn, out)
    execution = poll_until(follower.poll, lambda state: state["status"] != RUNNING, poll_seconds, sleep)
    return report_result(execution, stack, out)


def start(clients: Clients, stack: str, wait: bool, out: TextIO = sys.stdout,
          poll_seconds: float = DEFAULT_POLL_SECONDS, sleep: Callable[[float], None] = time.sleep) -> int:
    arn = find_state_machine(clients, stack)
    started = _call("starting the pipeline", clients.stepfunctions.start_execution, stateMachineArn=arn)
    execution_arn = started["executionArn"]
    print(f"started {execution_arn}", file=out, flush=True)
    if not wait:
        print("follow it with: headlines pipeline status --execution " + execution_arn, file=out)
        return 0
    return follow(clients, execution_arn, stack, out, poll_seconds, sleep)


def status(clients: Clients, stack: str, execution_arn: Optional[str], out: TextIO = sys.stdout) -> int:
    if not execution_arn:
        arn = find_state_machine(clients, stack)
        listed = _call("listing executions", clients.stepfunctions.list_executions, stateMachineArn=arn, maxResults=1)
        executions = listed.get("executions", [])
        if not executions:
            print("no execution yet: start one with `headlines pipeline start --wait`", file=out)
            return 0
        execution_arn = executions[0]["executionArn"]
    follower = Follower(clients, execution_arn, out)
    execution = follower.poll()
    print(f"execution {execution_arn}: {execution['status']}", file=out)
    if execution["status"] == RUNNING:
        print(f"current state: {follower.current_state or '(starting)'}", file=out)
        return 0
    return report_result(execution, stack, out)


def _run_start(args: argparse.Namespace, console: Any = None) -> int:
    clients = args.clients if getattr(args, "clients", None) else Clients.create(args.region)
    return start(clients, args.stack or default_stack(), args.wait, poll_seconds=args.poll_seconds)


def _run_status(args: argparse.Namespace, console: Any = None) -> int:
    clients = args.clients if getattr(args, "clients", None) else Clients.create(args.region)
    return status(clients, args.stack or default_stack(), args.execution)


def register(subparsers: Any) -> None:
    """Add ``pipeline start|status`` to the ``headlines`` command line."""
    pipeline = subparsers.add_parser("pipeline", help="start and follow the deployed training pipeline (AWS)")
    actions = pipeline.add_subparsers(dest="pipeline_command", required=True, metavar="ACTION")

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--stack", help="pipeline stack name (default: from cdk.json, e.g. HeadlinesPipeline)")
        parser.add_argument("--region", help="AWS region (default: AWS_REGION / your AWS config)")

    start_parser = actions.add_parser("start", help="start the state machine; --wait follows it to the end")
    start_parser.add_argument("--wait", action="store_true", help="follow the execution and exit with its result")
    start_parser.add_argument("--poll-seconds", type=float, default=DEFAULT_POLL_SECONDS, help=argparse.SUPPRESS)
    common(start_parser)
    start_parser.set_defaults(run=_run_start)

    status_parser = actions.add_parser("status", help="state of an execution (default: the latest)")
    status_parser.add_argument("--execution", metavar="ARN", help="execution ARN (default: the latest execution)")
    common(status_parser)
    status_parser.set_defaults(run=_run_status)


def main(argv: Optional[Iterable[str]] = None) -> int:
    """``python -m headlines.cli.pipeline start --wait`` (same as ``headlines pipeline ...``)."""
    parser = argparse.ArgumentParser(prog="headlines")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["pipeline", *(argv if argv is not None else sys.argv[1:])])
    return args.run(args, None)


if __name__ == "__main__":
    sys.exit(main())
