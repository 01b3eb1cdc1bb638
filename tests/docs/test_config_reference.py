"""docs/configuration.md is generated from the one schema (devtools/config_reference.py) and
is the only page with its tables."""
from __future__ import annotations

import re

from devtools import config_reference
from headlines.config import HeadlinesConfig
from headlines.hyperparameters import schema
from headlines.project import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_configuration_reference_is_current():
    committed = config_reference.PAGE.read_text(encoding="utf-8")
    assert committed == config_reference.render(), (
        "docs/configuration.md is stale: run `make reference` (python -m devtools.config_reference) and commit it")


def test_it_names_every_setting_and_hyperparameter():
    page = config_reference.render()

    def keys(model, prefix=""):
        for name, field in model.model_fields.items():
            annotation = field.annotation
            nested = [arg for arg in getattr(annotation, "__args__", (annotation,)) if hasattr(arg, "model_fields")]
            if nested and name != "hyperparameters":
                if prefix:
                    yield prefix + name
                yield from keys(nested[0], prefix + name + ".")
            else:
                yield prefix + name

    for key in keys(HeadlinesConfig):
        assert f"| `{key}` |" in page, key
    for spec in (*schema().CLASSIFIER, *schema().BLAZINGTEXT):
        assert f"| `{spec.name}` | {spec.describe()} |" in page, spec.name
    for name, field in HeadlinesConfig.model_fields.items():  # every setting says what it does
        assert field.description, name


def test_the_types_and_ranges_come_from_the_model():
    page = config_reference.render()
    assert "| `stage` | str: one of dev, prod | `dev` |" in page
    assert "| `api.endpoint_timeout_seconds` | float: > 0, <= 24 or null | `null` |" in page
    assert "| `classifier.max_runtime_seconds` | int: >= 60 or null | `null` |" in page
    assert "| `serving.serverless_max_concurrency` | int: >= 1, <= 200 | `5` |" in page


def test_no_other_page_repeats_its_tables():
    rows = [line for line in config_reference.render().splitlines() if re.match(r"^\| `[\w.]+` \|", line)]
    assert len(rows) > 80
    for path in DOCS:
        if path == config_reference.PAGE:
            continue
        text = path.read_text(encoding="utf-8")
        repeated = [row for row in rows if row in text]
        assert repeated == [], f"{path.relative_to(ROOT)} repeats the configuration reference: {repeated[:3]}"
        # nor a hand-written copy of a hyperparameter's row, whatever its wording
        names = [spec.name for spec in (*schema().CLASSIFIER, *schema().BLAZINGTEXT)]
        copied = [name for name in names if re.search(rf"^\| `{name}` \| (int|float|str|bool|ints|families|views)\b",
                                                      text, re.MULTILINE)]
        assert copied == [], f"{path.relative_to(ROOT)} has its own rows for {copied}: link docs/configuration.md"
