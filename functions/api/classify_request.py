"""The body of ``POST /v1/classify`` as pydantic models, which Powertools' request validation
(``APIGatewayRestResolver(enable_validation=True)``) checks before the route runs.

``{"headline": "..."}`` or ``{"headlines": ["...", ...]}``, nothing else: pydantic checks the
types (strict: no number taken for a string) and unknown fields; the validators here check
what the contract adds (exactly one of the two fields, blank text, the configured limits).
``validation_message`` turns pydantic's errors into the contract's one-line ``bad_request``
message, naming the field (``'headlines[3]' must be a string``).

The limits are a class attribute (``limits``) that the function sets from its environment in
a subclass, so this module reads no environment and the same model serves any deployment.
"""
from __future__ import annotations

import json
from typing import Any, ClassVar, List, Mapping, Optional, Sequence

from api_errors import bad_request
from api_settings import Limits
from pydantic import BaseModel, ConfigDict, StrictStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

BODY_SHAPE = '{"headline": "..."} or {"headlines": ["...", ...]}'
# "Blank" as the contract's pattern means it. JSON Schema patterns are ECMAScript regexes, whose
# \s differs from Python's (str.strip() and re): U+FEFF is whitespace only in ECMAScript, U+001C-
# U+001F and U+0085 only in Python. The contract's pattern excludes both, so that every layer
# (API Gateway's validator, this handler, the model's input_fn) agrees on what is blank.
BLANK_CHARACTERS = ("\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
                    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\u001c\u001d\u001e\u001f\u0085")
# The error type of the validators' own messages (already in the contract's words).
CONTRACT_ERROR = "headlines_bad_request"


def _reject(message: str) -> PydanticCustomError:
    # The message goes in as context: a template would take its braces for placeholders.
    return PydanticCustomError(CONTRACT_ERROR, "{message}", {"message": message})


def json_object(text: str) -> Any:
    """The request body as a JSON object (Powertools' ``json_body_deserializer``)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise bad_request("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad_request(f"the body must be a JSON object: {BODY_SHAPE}")
    return data


def _check_headline(text: str, where: str, limits: Limits) -> str:
    if not text.strip(BLANK_CHARACTERS):
        raise _reject(f"'{where}' must not be empty or whitespace")
    if len(text) > limits.max_headline_chars:
        raise _reject(f"'{where}' is longer than {limits.max_headline_chars} characters ({len(text)})")
    return text


class ClassifyRequest(BaseModel):
    """One headline or a batch; subclasses set ``limits``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    limits: ClassVar[Limits]

    headline: Optional[StrictStr] = None
    headlines: Optional[List[StrictStr]] = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one_field(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            if "headline" in data and "headlines" in data:
                raise _reject("send either 'headline' or 'headlines', not both")
            if "headline" not in data and "headlines" not in data and not set(data) - {"headline", "headlines"}:
                raise _reject("'headline' or 'headlines' is required")
        return data

    @field_validator("headline", mode="before")
    @classmethod
    def _headline_present(cls, value: Any) -> Any:
        if value is None:  # sent as null: the default None means "not sent"
            raise _reject("'headline' must be a string")
        return value

    @field_validator("headlines", mode="before")
    @classmethod
    def _batch_size(cls, value: Any) -> Any:
        # Before the items, as the contract orders its answers: the batch first, then each headline.
        if not isinstance(value, list):
            raise _reject("'headlines' must be an array of strings")
        if not value:
            raise _reject("'headlines' must not be empty")
        if len(value) > cls.limits.max_batch_size:
            raise _reject(f"'headlines' holds {len(value)} items; at most {cls.limits.max_batch_size} are allowed")
        return value

    @field_validator("headline")
    @classmethod
    def _headline_text(cls, value: str) -> str:
        return _check_headline(value, "headline", cls.limits)

    @field_validator("headlines")
    @classmethod
    def _batch_text(cls, value: List[str]) -> List[str]:
        return [_check_headline(text, f"headlines[{index}]", cls.limits) for index, text in enumerate(value)]

    def texts(self) -> List[str]:
        """The headlines to classify, in request order."""
        return [self.headline] if self.headline is not None else list(self.headlines or [])

    @property
    def single(self) -> bool:
        return self.headline is not None


def _where(location: Sequence[Any]) -> str:
    parts = [part for part in location if part != "body"]
    if not parts:
        return "body"
    text = str(parts[0])
    for part in parts[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def validation_message(errors: Sequence[Mapping[str, Any]]) -> str:
    """The contract's message for pydantic's errors (as Powertools' RequestValidationError holds them)."""
    unknown = sorted(str(error["loc"][-1]) for error in errors if error.get("type") == "extra_forbidden")
    if unknown:
        return "unknown field(s): " + ", ".join(repr(name)[:60] for name in unknown[:5])
    if not errors:
        return "the request body is not valid"
    error = errors[0]
    kind, where = error.get("type"), _where(error.get("loc") or ())
    if kind == CONTRACT_ERROR:
        return str(error.get("msg"))
    if kind == "string_type":
        return f"'{where}' must be a string"
    if kind == "missing" and where == "body":  # an empty body: Powertools' parser gives None
        return "the request body is not valid JSON"
    return f"'{where}': {error.get('msg')}"
