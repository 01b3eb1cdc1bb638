"""The API function's configuration: its environment, read once per execution environment.

Every variable is set by the deployment (``infra/api_function.py``) and by the local front
(``headlines/local/api_front.py``), both from ``cdk.json``'s ``headlines.api``. The two request
limits have no default here: a function started without them (or with a value that is not a
positive integer) fails its cold start with one line naming the variable, instead of accepting
other limits than the gateway's request model and the contract. The endpoint timeout keeps a
safe default, and is capped so that the worst case stays under API Gateway's 29 s.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, NamedTuple, Tuple

# API Gateway's integration timeout; the endpoint call must give up well before it (and
# before the function's own timeout, 28 s in infra/api_function.py).
GATEWAY_TIMEOUT_SECONDS = 29.0
ENDPOINT_BUDGET_SECONDS = 24.0
DEFAULT_ENDPOINT_TIMEOUT_SECONDS = 10.0
LIMIT_VARIABLES = {
    "MAX_HEADLINE_CHARS": "max_headline_chars",
    "MAX_BATCH_SIZE": "max_batch_size",
}


class Limits(NamedTuple):
    """The API's request limits (cdk.json headlines.api), as the handler, the gateway's request
    model, the served contract and the model container apply them."""

    max_headline_chars: int
    max_batch_size: int


class SettingsError(RuntimeError):
    """A variable the function cannot start without is missing or invalid."""


@dataclass(frozen=True)
class Settings:
    endpoint_name: str
    limits: Limits
    endpoint_timeout_seconds: float
    model_version: str
    cors_allow_origins: Tuple[str, ...]

    @property
    def connect_timeout_seconds(self) -> float:
        return min(2.0, self.endpoint_timeout_seconds)

    @property
    def endpoint_max_attempts(self) -> int:
        # Worst case: attempts x (connect + read) <= ENDPOINT_BUDGET_SECONDS, plus standard-mode
        # backoff (< 1 s, then < 2 s): at most 27 s.
        per_attempt = self.endpoint_timeout_seconds + self.connect_timeout_seconds
        return max(1, min(3, int(ENDPOINT_BUDGET_SECONDS // per_attempt)))


def _limit(environ: Mapping[str, str], name: str) -> int:
    setting = f"cdk.json headlines.api.{LIMIT_VARIABLES[name]}"
    raw = environ.get(name, "").strip()
    if not raw:
        raise SettingsError(f"{name} is not set: the API's limits come from {setting} "
                            "(infra/api_function.py and the local front set it)")
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number (it comes from {setting})") from None
    if value < 1:
        raise SettingsError(f"{name}={raw!r} must be at least 1 (it comes from {setting})")
    return value


def _timeout(environ: Mapping[str, str], warn: Callable[[str], None]) -> float:
    raw = environ.get("ENDPOINT_TIMEOUT_SECONDS", "").strip()
    if not raw:
        return DEFAULT_ENDPOINT_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0.05):
        warn(f"ignoring ENDPOINT_TIMEOUT_SECONDS={raw!r}: not a number of seconds >= 0.05")
        return DEFAULT_ENDPOINT_TIMEOUT_SECONDS
    if value > ENDPOINT_BUDGET_SECONDS:
        warn(f"ENDPOINT_TIMEOUT_SECONDS={raw} is too close to API Gateway's {GATEWAY_TIMEOUT_SECONDS:g} s; "
             f"using {ENDPOINT_BUDGET_SECONDS:g}")
        return ENDPOINT_BUDGET_SECONDS
    return value


def from_environ(environ: Mapping[str, str], warn: Callable[[str], None]) -> Settings:
    """The settings in ``environ``; SettingsError when a limit is missing or invalid."""
    origins = tuple(o.strip() for o in environ.get("CORS_ALLOW_ORIGINS", "*").split(",") if o.strip())
    return Settings(
        endpoint_name=environ.get("ENDPOINT_NAME") or "headlines",
        limits=Limits(_limit(environ, "MAX_HEADLINE_CHARS"), _limit(environ, "MAX_BATCH_SIZE")),
        endpoint_timeout_seconds=_timeout(environ, warn),
        model_version=environ.get("MODEL_VERSION", ""),
        cors_allow_origins=origins or ("*",),
    )
