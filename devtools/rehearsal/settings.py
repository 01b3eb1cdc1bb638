"""What the rehearsal deploys into and with: the emulated account, the staged artifacts, the update."""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

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
# The default of a settings or parameters argument: empty, and read-only so that no call can change it.
NO_OVERRIDES: Mapping[str, str] = MappingProxyType({})
