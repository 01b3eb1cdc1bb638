"""What the rehearsal stages in the emulated account: placeholder model artifacts and layers."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from typing import Any, Dict, Optional, Sequence

from devtools.rehearsal.settings import ACCOUNT, REGION
from devtools.rehearsal.templates import StackTemplate


def placeholder_version(generation: int) -> str:
    """The placeholder's ``model_version`` (16 hex digits, like train.py's parameter hash)."""
    return hashlib.sha256(f"devtools.rehearsal placeholder {generation}".encode()).hexdigest()[:16]


def placeholder_artifact(generation: int = 0) -> bytes:
    """A small model.tar.gz with the contract's layout; the emulator never runs it."""
    files = {
        "PLACEHOLDER": b"Staged by devtools.rehearsal: not a trained model.\n",
        "labels.json": json.dumps({"labels": ["b", "t", "e", "m"]}).encode(),
        "metrics.json": json.dumps({"model_version": placeholder_version(generation)}).encode(),
        "code/inference.py": b"# placeholder\n",
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _flat(value: Any) -> Optional[str]:
    """A template string with pseudo parameters resolved, or None when it depends on resources."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                "AWS::URLSuffix": "amazonaws.com"}.get(value["Ref"])
    if isinstance(value, dict) and "Fn::Join" in value:
        parts = [_flat(v) for v in value["Fn::Join"][1]]
        return None if None in parts else value["Fn::Join"][0].join(parts)
    return None


_LAYER_ARN = re.compile(r"^arn:[^:]+:lambda:[^:]+:(?P<account>\d{12}):layer:(?P<name>[^:]+):(?P<version>\d+)$")


def external_layers(stacks: Sequence[StackTemplate]) -> Dict[str, int]:
    """Layer name -> highest version, of the layers of other accounts that the functions use."""
    layers: Dict[str, int] = {}
    for stack in stacks:
        for resource in stack.of_type("AWS::Lambda::Function").values():
            for layer in resource.get("Properties", {}).get("Layers", []) or []:
                match = _LAYER_ARN.match(_flat(layer) or "")
                if match and match.group("account") != ACCOUNT:
                    name, version = match.group("name"), int(match.group("version"))
                    layers[name] = max(version, layers.get(name, 0))
    return layers


def tiny_zip() -> bytes:
    import zipfile

    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        archive.writestr("python/PLACEHOLDER", "staged by devtools.rehearsal\n")
    return raw.getvalue()
