"""The project's pinned CDK CLI, driven against the emulator: bootstrap, synth, deploy, destroy."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import List, Mapping, Optional, Sequence

from devtools import CHECKOUT
from devtools.rehearsal.aws import aws_env
from devtools.rehearsal.basics import Deadline, RehearsalError, clip, tail
from devtools.rehearsal.emulator import terminate_group
from devtools.rehearsal.settings import ACCOUNT, NO_OVERRIDES, REGION

#: The project's bootstrap template (the CDK CLI's, plus what its deploy role needs), in the app directory.
PROJECT_BOOTSTRAP_TEMPLATE = Path("infra") / "bootstrap-template.yaml"


def cdk_cli() -> Path:
    return CHECKOUT / "node_modules" / ".bin" / "cdk"


def _error_line(path: Path) -> str:
    """The most telling line of a CDK CLI log."""
    lines = tail(path, 400)
    for index in range(len(lines) - 1, -1, -1):
        if "❌" in lines[index]:
            cause = lines[index + 1].strip() if index + 1 < len(lines) else ""
            return clip(lines[index].strip() + (f" {cause}" if cause.startswith("‣") else ""), 300)
    errors = [i for i, line in enumerate(lines) if line.startswith("ERROR")]
    if errors:  # synthesis errors (cdk-nag, validation): count them, show the first with its path
        first = errors[0]
        where = lines[first + 1].strip() if first + 1 < len(lines) else ""
        return clip(f"{len(errors)} synthesis errors; first: {where}: {lines[first][6:].strip()}", 300)
    for line in reversed(lines):
        if re.match(r"\s*(error|Error|[A-Za-z]+Error):", line):  # the app's own one-line errors
            return clip(line.strip(), 300)
    for line in reversed(lines):
        if re.search(r"\b(Error|error|failed|FAILED)\b", line):
            return clip(line.strip(), 300)
    return clip(lines[-1].strip(), 300) if lines else "no output"


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
                terminate_group(process)
                raise RehearsalError(f"cdk {args[0]} did not finish within {timeout:.0f} s "
                                     f"(log: {log})", tail(log)) from None
            except BaseException:
                terminate_group(process)
                raise
        if code != 0:
            raise RehearsalError(f"cdk {args[0]} exited {code}: {_error_line(log)} (log: {log})",
                                 tail(log))
        return log

    @staticmethod
    def context_args(context: Mapping[str, str]) -> List[str]:
        args: List[str] = []
        for key, value in context.items():
            args += ["-c", f"{key}={value}"]
        return args

    def bootstrap(self) -> str:
        """``cdk bootstrap`` with the project's bootstrap template where the checkout has one
        (``make bootstrap``'s), else the CLI's own; says which."""
        # Run outside the app directory: bootstrapping an explicit environment needs no synth.
        template = self.app_dir / PROJECT_BOOTSTRAP_TEMPLATE
        extra = ["--template", str(template)] if template.is_file() else []
        self.run("bootstrap", ["bootstrap", f"aws://{ACCOUNT}/{REGION}", *extra], cap=120, cwd=self.workdir)
        return str(PROJECT_BOOTSTRAP_TEMPLATE) if extra else "the CDK CLI's default template"

    def synth(self, log_name: str, context: Mapping[str, str], out_dir: Path) -> None:
        """``cdk synth`` with the rehearsal context; ``cdk deploy`` then deploys this assembly."""
        self.run(log_name, ["synth", "--quiet", "--output", str(out_dir), *self.context_args(context)], cap=180)

    def deploy(self, log_name: str, assembly: Path, stack: str, outputs: Path,
               parameters: Mapping[str, str] = NO_OVERRIDES) -> None:
        """``cdk deploy <stack>``, as the README runs it (one stack at a time)."""
        extra = [arg for key, value in dict(parameters).items() for arg in ("--parameters", f"{stack}:{key}={value}")]
        self.run(log_name, ["deploy", stack, "--app", str(assembly), "--require-approval", "never",
                            "--method=direct", "--progress", "events", "-O", str(outputs), *extra], cap=240)

    def destroy(self, assembly: Path) -> None:
        self.run("destroy", ["destroy", "--all", "--force", "--app", str(assembly)], cap=180)
