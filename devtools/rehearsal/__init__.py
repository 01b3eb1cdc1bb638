"""Rehearse the README's deploy, update and destroy commands offline, against moto's server.

Run it as ``python -m devtools.rehearsal [--stage prod]`` (``make rehearse``). It starts
``moto_server`` on a free loopback port, bootstraps the emulated account with the project's
pinned CDK CLI (and the project's bootstrap template, infra/bootstrap-template.yaml, where the
checkout has it), runs ``headlines preflight`` against it (after setting API Gateway's logging
role as its fix says; devtools/rehearsal/preflight.py) and runs the README's sequence:
``cdk deploy <prefix>Pipeline``, the pipeline's approval (a stand-in for ``headlines pipeline
start --wait``: a placeholder model artifact and the two SSM parameters the publish step
writes), ``cdk deploy <prefix>Serving``; it checks the deployed resources against a table of
named expectations, approves a new model with changed settings and deploys again (the README's
update), ``cdk destroy --all``, compares an inventory of the account taken before the deploy
with one taken after the destroy, then deploys again from scratch (a redeploy after a destroy
must not clash with anything left behind) and destroys again, with a second inventory diff.
Only the emulator gaps listed in ``KNOWN_GAPS`` (and, for prod, what the templates retain on
purpose) may remain. docs/rehearsal.md says what
this proves and what it does not.

Every workaround for the emulator lives in this package, none in the app: the app is synthesized and
deployed with the CDK CLI as users run it, plus the context ``headlines:rehearsal=true`` (which
only drops the bootstrap-version rule that moto cannot evaluate on updates). The rest is listed
in docs/rehearsal.md: a custom-resource responder, a few template rewrites (EMULATOR_FIXUPS),
placeholder layer versions and a placeholder model artifact.

Output: each phase prints its name and elapsed time; the check phase prints one PASS / FAIL /
GAP line per named check with what was expected and what was found; a failure ends with one
line ``rehearsal failed in <phase>: <what>`` and a non-zero exit. The emulator this started is
stopped on every path out, including Ctrl-C and SIGTERM.

The modules, one concern each, listed so that each imports only modules before it (no cycles):
settings and known_gaps (constants), basics (the one-line failure, the time budget, output),
emulator (``moto_server``), aws (clients of the emulated account), templates (the cloud
assembly), custom_resources (the responder), cdk_cli (the CDK CLI driver), deployed (what
moto says is deployed), results and readings (what the checks share), checks (the table of
``@check``), inventory and leftovers (the diff after a destroy), staging (placeholder artifact
and layers), fixups (the template rewrites), preflight (``headlines preflight`` against the
emulator), scenario (the phases, in the README's order), cli
(the command line; ``__main__`` runs it).
"""

from __future__ import annotations

# The names the tests and other tools use, so that ``from devtools.rehearsal import X`` keeps working.
from devtools.rehearsal.basics import RehearsalError
from devtools.rehearsal.cdk_cli import Cdk, cdk_cli
from devtools.rehearsal.checks import CHECKS, run_checks, update_results
from devtools.rehearsal.cli import main
from devtools.rehearsal.emulator import Emulator
from devtools.rehearsal.fixups import EMULATOR_FIXUPS, apply_fixups
from devtools.rehearsal.known_gaps import KNOWN_GAPS
from devtools.rehearsal.leftovers import Leftover, Owned, classify_leftovers
from devtools.rehearsal.results import Expectations, Result, expected_routes
from devtools.rehearsal.scenario import PHASES, Rehearsal
from devtools.rehearsal.staging import placeholder_artifact, placeholder_version
from devtools.rehearsal.templates import StackTemplate, read_assembly

__all__ = [
    "CHECKS",
    "EMULATOR_FIXUPS",
    "KNOWN_GAPS",
    "PHASES",
    "Cdk",
    "Emulator",
    "Expectations",
    "Leftover",
    "Owned",
    "Rehearsal",
    "RehearsalError",
    "Result",
    "StackTemplate",
    "apply_fixups",
    "cdk_cli",
    "classify_leftovers",
    "expected_routes",
    "main",
    "placeholder_artifact",
    "placeholder_version",
    "read_assembly",
    "run_checks",
    "update_results",
]
