"""Fixtures of the CDK synthesis tests: one synthesis shared by the modules of a worker."""
from __future__ import annotations

from typing import Dict

import pytest
from infra_support import Synth, synthesize


@pytest.fixture(scope="session")
def _synth_cache() -> Dict[str, Synth]:
    return {}


@pytest.fixture(scope="module")
def dev(tmp_path_factory, _synth_cache) -> Synth:
    """Defaults (dev stage, instance serving) and no context at all, as plain `npx cdk synth`.

    Synthesized once per worker and shared by the modules marked ``xdist_group("infra")``
    (they run on the same worker with ``--dist loadgroup``).
    """
    if "dev" not in _synth_cache:
        _synth_cache["dev"] = synthesize(tmp_path_factory.mktemp("cdk-dev"), {})
    return _synth_cache["dev"]
