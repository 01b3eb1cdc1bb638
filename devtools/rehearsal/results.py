"""A check's result, what the checks expect, and the report that fails the phase on a FAIL."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence, Set, Tuple

from devtools.rehearsal.basics import RehearsalError, clip, say
from headlines.config import HeadlinesConfig
from headlines.project import OPENAPI_PATH


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
                             f"expected {clip(first.expected)}, found {clip(first.found)}")
