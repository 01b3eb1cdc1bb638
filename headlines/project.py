"""Where the project's own files are: the container code (``training/``, ``inference/``), the
Lambda functions (``functions/``), the REST contract (``api/openapi.yaml``) and ``cdk.json``.

In a source checkout (and an editable install) that is the checkout. A wheel carries a copy
of those files inside the package, under ``headlines/_project/`` (setup.py puts it there), so
that a non-editable install trains, serves and synthesizes the same code.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE / "_project"

#: True in a wheel install (the files are the bundled copy), False in a checkout.
BUNDLED = _BUNDLED.is_dir()
ROOT = _BUNDLED if BUNDLED else _PACKAGE.parent

CDK_JSON = ROOT / "cdk.json"
# The REST API contract: API Gateway, the Lambda handler, the rehearsal and the tests follow it.
OPENAPI_PATH = ROOT / "api" / "openapi.yaml"
TRAINING_DIR = ROOT / "training"
INFERENCE_DIR = ROOT / "inference"
FUNCTIONS_DIR = ROOT / "functions"
# The result record's one schema (issue #26): the API function, the Glue table and the local store follow it.
RESULTS_SCHEMA_PATH = FUNCTIONS_DIR / "api" / "results_schema.json"

#: What a wheel bundles (setup.py): (folder or file, glob patterns), relative to the checkout.
BUNDLE = (
    ("cdk.json", ()),
    ("api", ("openapi.yaml",)),
    ("training", ("*.py",)),
    ("inference", ("*.py",)),
    ("functions", ("*/*.py", "api/results_schema.json", "api/web/*", "api/web/vendor/swagger-ui/*")),
)
