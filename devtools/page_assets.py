"""The pages' committed copies: Swagger UI from the pinned npm package and the contract as JSON
(``functions/api/web/``), and Chart.js for the local dashboard (``headlines/results/web/``).
``make page-assets`` (``python -m devtools.page_assets``) writes them; the tests check that they
are exactly what this would write.

Why committed copies rather than a copy at synth: the Lambda asset stays a plain folder (no
bundling step between the repository and what CDK zips), local mode and AWS serve the very
same bytes, and an upgrade shows up in review as a diff of the vendored files.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Dict

import yaml

from devtools import CHECKOUT
from headlines.project import OPENAPI_PATH

PACKAGE = "swagger-ui-dist"
NODE_PACKAGE_DIR = CHECKOUT / "node_modules" / PACKAGE
WEB_DIR = CHECKOUT / "functions" / "api" / "web"
VENDOR_DIR = WEB_DIR / "vendor" / "swagger-ui"
# What the page loads, plus the licenses that must travel with it.
VENDORED_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt")
CONTRACT_COPY = WEB_DIR / "openapi.json"
# The local dashboard's charts (GET /dashboard): Chart.js's UMD bundle, which includes
# @kurkle/color (its one dependency); both licenses travel with the copy.
CHART_PACKAGE = "chart.js"
CHART_NODE_DIR = CHECKOUT / "node_modules" / CHART_PACKAGE
COLOR_NODE_DIR = CHECKOUT / "node_modules" / "@kurkle" / "color"
CHART_VENDOR_DIR = CHECKOUT / "headlines" / "results" / "web" / "vendor" / "chart.js"


def pinned_version(package: str = PACKAGE) -> str:
    """The version package.json pins (exact, as package-lock.json records it)."""
    return json.loads((CHECKOUT / "package.json").read_text(encoding="utf-8"))["devDependencies"][package]


def installed_version(node_dir: Path = NODE_PACKAGE_DIR) -> str:
    return json.loads((node_dir / "package.json").read_text(encoding="utf-8"))["version"]


def contract_json(path: Path = OPENAPI_PATH) -> str:
    """The contract as the page loads it (JSON, so the Lambda needs no YAML parser)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return json.dumps(document, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def expected_files() -> Dict[Path, bytes]:
    files = {VENDOR_DIR / name: (NODE_PACKAGE_DIR / name).read_bytes() for name in VENDORED_FILES}
    files[VENDOR_DIR / "VERSION"] = f"{PACKAGE} {installed_version()}\n".encode()
    files[CONTRACT_COPY] = contract_json().encode("utf-8")
    files[CHART_VENDOR_DIR / "chart.umd.min.js"] = (CHART_NODE_DIR / "dist" / "chart.umd.min.js").read_bytes()
    files[CHART_VENDOR_DIR / "LICENSE.md"] = (CHART_NODE_DIR / "LICENSE.md").read_bytes()
    files[CHART_VENDOR_DIR / "LICENSE-kurkle-color"] = (COLOR_NODE_DIR / "LICENSE").read_bytes()
    files[CHART_VENDOR_DIR / "VERSION"] = (f"{CHART_PACKAGE} {installed_version(CHART_NODE_DIR)} "
                                           f"(with @kurkle/color {installed_version(COLOR_NODE_DIR)})\n").encode()
    return files


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)  # never a half-written file under the final name


def main() -> int:
    for package, node_dir in ((PACKAGE, NODE_PACKAGE_DIR), (CHART_PACKAGE, CHART_NODE_DIR)):
        if not node_dir.is_dir():
            print(f"error: {node_dir} is missing: run 'npm ci' first", file=sys.stderr)
            return 2
        if installed_version(node_dir) != pinned_version(package):
            print(f"error: node_modules has {package} {installed_version(node_dir)}, package.json pins "
                  f"{pinned_version(package)}: run 'npm ci' first", file=sys.stderr)
            return 2
    for path, data in expected_files().items():
        if not path.is_file() or path.read_bytes() != data:
            _write(path, data)
            print(f"wrote {path.relative_to(CHECKOUT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
