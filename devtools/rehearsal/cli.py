"""The command line: ``python -m devtools.rehearsal [--stage prod] [--phases ...]``."""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from devtools import CHECKOUT
from devtools.rehearsal.basics import Interrupted, RehearsalError, say
from devtools.rehearsal.scenario import PHASE_TITLES, PHASES, Rehearsal
from devtools.rehearsal.settings import DEFAULT_BUDGET_SECONDS


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Interrupted()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.rehearsal",
        description="Rehearse cdk deploy / update / destroy offline against moto's server.")
    parser.add_argument("--app-dir", type=Path, default=CHECKOUT, help="the CDK app (default: this repo)")
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
