"""The local model registry: one JSON file per model under ``<workdir>/registry/``.

The same records as SageMaker's model package group (headlines/registry.py), each written
under a temporary name and renamed, beside the model's unpacked folder
(``registry/models/<version>/``, the champion channel of the next training). The serving
pointer is ``<workdir>/model``, the folder ``headlines serve`` serves: it is replaced by the
approved model's folder whenever the approved set changes.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import List, Optional

from headlines.artifacts import replace_folder
from headlines.registry import ModelRecord, RegistryError

REGISTRY = "registry"
SERVING = "model"  # headlines.local.pipeline.CURRENT_MODEL


class LocalRegistry:
    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.folder = self.workdir / REGISTRY
        self.where = str(self.folder)

    def model_dir(self, version: str) -> Path:
        return self.folder / "models" / version

    def records(self) -> List[ModelRecord]:
        if not self.folder.is_dir():
            return []
        records = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                records.append(ModelRecord.from_json(json.loads(path.read_text(encoding="utf-8"))))
            except (ValueError, TypeError) as error:
                raise RegistryError(f"{path}: not a registry record ({error})") from None
        return sorted(records, key=lambda record: record.registered_at)

    def _write(self, record: ModelRecord) -> ModelRecord:
        path = self.folder / f"{record.version}.json"
        stored = ModelRecord.from_json(dict(record.as_json(), package=str(path)))
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
        try:
            partial.write_text(json.dumps(stored.as_json(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return stored

    def register(self, record: ModelRecord) -> ModelRecord:
        return self._write(record)

    def update(self, record: ModelRecord) -> None:
        if not (self.folder / f"{record.version}.json").is_file():
            raise RegistryError(f"no model {record.version} in {self.where}")
        self._write(record)

    def serving_changed(self, record: Optional[ModelRecord]) -> str:
        target = self.workdir / SERVING
        if record is None:
            shutil.rmtree(target, ignore_errors=True)
            return "no approved model is left: headlines serve has nothing to serve"
        source = self.model_dir(record.version)
        if not source.is_dir():
            raise RegistryError(f"{source}: the model's folder is missing; train it again")
        replace_folder(source, target)
        return f"headlines serve now serves model {record.version} ({target}; restart a running one)"
