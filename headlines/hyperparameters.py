"""Typed hyperparameters (pydantic), derived from the one definition in training/hyperparameters.py.

That file must stay importable on Python 3.8 with only what the MXNet image has, because
train.py builds its argument parser from it; the pydantic models here are generated from the
same specs, with the same conversion, so ``cdk.json``, ``-H``, the state machine and train.py
accept exactly the same names and values. This module also builds the one hyperparameter map
that both the local run (``hyperparameters.json``) and the state machine's MXNet job get.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any, Dict, Mapping, Optional, Type

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, create_model

from headlines.config import parse_scalar
from headlines.project import TRAINING_DIR

if TYPE_CHECKING:
    from headlines.config import HeadlinesConfig

SCHEMA_PATH = TRAINING_DIR / "hyperparameters.py"
ENTRY_POINT = "train.py"
_PYTHON_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "ints": str, "families": str, "views": str}


@functools.lru_cache(maxsize=None)
def schema():
    """training/hyperparameters.py, loaded once by path (training/ is not a package)."""
    spec = importlib.util.spec_from_file_location("headlines_training_hyperparameters", str(SCHEMA_PATH))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _converter(spec):
    def convert(value: Any) -> Any:
        try:
            return spec.convert(value)
        except ValueError as error:  # pydantic names the key itself
            raise ValueError(str(error).split(": ", 1)[-1]) from error
    return convert


def _model(name: str, specs, excluded=()) -> Type[BaseModel]:
    fields = {spec.name: (Annotated[_PYTHON_TYPES[spec.kind], BeforeValidator(_converter(spec))], spec.default)
              for spec in specs if spec.name not in excluded}
    return create_model(name, __config__=ConfigDict(extra="forbid", frozen=True), **fields)  # type: ignore[call-overload]  # fields built at run time


@functools.lru_cache(maxsize=None)
def classifier_model() -> Type[BaseModel]:
    """train.py's hyperparameters, less vector_dim (the word vectors decide it)."""
    return _model("ClassifierHyperparameters", schema().CLASSIFIER, excluded=tuple(schema().DERIVED))


@functools.lru_cache(maxsize=None)
def blazingtext_model() -> Type[BaseModel]:
    return _model("BlazingTextHyperparameters", schema().BLAZINGTEXT)


def effective_classifier(values: Mapping[str, Any]) -> Dict[str, Any]:
    """Every classifier hyperparameter train.py runs with: ``values`` over the defaults."""
    given = {name: value for name, value in values.items() if name not in schema().DERIVED}
    return classifier_model().model_validate(given).model_dump()


def validate(model: Type[BaseModel], values: Mapping[str, Any]) -> Dict[str, Any]:
    """The given values in their canonical wire form; a one-line ValueError naming the key."""
    known = set(model.model_fields)
    for name in values:
        if name in schema().DERIVED and name not in known:
            raise ValueError(f"{name} is not set here: it comes from {schema().DERIVED[name]}")
        if name not in known:
            raise ValueError(f"unknown hyperparameter '{name}'{schema()._suggestion(name, dict.fromkeys(known))}")
    try:
        typed = model.model_validate(dict(values))
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).replace("Value error, ", "")
        raise ValueError(f"{'.'.join(map(str, first['loc']))}: {message}") from None
    return typed.model_dump(include=set(values))


def validate_blazingtext(values: Mapping[str, Any]) -> Dict[str, Any]:
    return validate(blazingtext_model(), values)


def embeddings_vector_dim(cfg: "HeadlinesConfig") -> int:
    return int(blazingtext_model().model_validate(dict(cfg.embeddings.hyperparameters)).model_dump()["vector_dim"])


def classifier_hyperparameters(cfg: "HeadlinesConfig", overrides: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """What train.py gets, locally and in SageMaker: cdk.json's classifier hyperparameters,
    ``vector_dim`` from the embeddings job, then the command line's ``-H`` overrides.

    ``-H epochs=N`` sets the epoch budget of every member: CNNs get ``epochs=N`` and the linear
    members ``linear_epochs=N``, unless ``-H linear_epochs=M`` is given too.
    """
    values = dict(cfg.classifier.hyperparameters)
    values["vector_dim"] = embeddings_vector_dim(cfg)
    if overrides:
        given = {name: parse_scalar(value) for name, value in overrides.items()}
        if "epochs" in given and "linear_epochs" not in given:
            given["linear_epochs"] = given["epochs"]
        try:
            values.update(validate(classifier_model(), given))
        except ValueError as error:
            raise ValueError(f"-H {error}") from None
        conflict = schema().classifier_conflicts(values)
        if conflict:
            raise ValueError(f"-H {conflict}")
    return values


def validate_classifier(values: Mapping[str, Any]) -> Dict[str, Any]:
    """cdk.json's classifier hyperparameters: each value, then their combination."""
    checked = validate(classifier_model(), values)
    conflict = schema().classifier_conflicts(checked)
    if conflict:
        raise ValueError(conflict)
    return checked


def sagemaker_hyperparameters(values: Mapping[str, Any], submit_directory: str, region: str) -> Dict[str, str]:
    """The MXNet job's HyperParameters: every value JSON-encoded, as the SageMaker Python SDK
    sends them (the training toolkit JSON-decodes each and passes ``--name value``), plus the
    script-mode keys the toolkit consumes itself."""
    encoded = dict(values)
    encoded.update(sagemaker_program=ENTRY_POINT, sagemaker_submit_directory=submit_directory,
                   sagemaker_region=region, sagemaker_container_log_level=20)
    return {key: json.dumps(value) for key, value in encoded.items()}


def blazingtext_hyperparameters(cfg: "HeadlinesConfig") -> Dict[str, str]:
    """The BlazingText job's HyperParameters: strings, booleans as ``True``/``False``, the form
    AWS's BlazingText documentation gives (``evaluation``, ``subwords``: "Valid values: (Boolean)
    True or False") and the SageMaker Python SDK sends (``str(True)``)."""
    return {key: str(value) for key, value in cfg.embeddings.hyperparameters.items()}


def markdown_table(specs) -> str:
    """A table of hyperparameters, as docs/configuration.md shows it (devtools/config_reference.py)."""
    rows = ["| name | type and range | default | what |", "|---|---|---|---|"]
    for spec in specs:
        default = json.dumps(spec.default) if isinstance(spec.default, bool) else spec.default
        rows.append(f"| `{spec.name}` | {spec.describe()} | `{default}` | {spec.help} |")
    return "\n".join(rows)
