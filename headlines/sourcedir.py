"""Builds the tarballs the CDK app publishes as file assets, byte-for-byte reproducibly.

- ``sourcedir.tar.gz``: what both SageMaker script mode and the local pipeline run (script
  mode wants a gzipped tarball, while CDK directory assets are zips);
- ``project.tar.gz``: the project for the notebook instance (infra/notebook.py), which its
  lifecycle configuration unpacks into ``~/SageMaker/headlines-mlops``.

Sorted entries, fixed mtimes and owners, gzip mtime 0: otherwise every synth would change the
asset hash, and every deploy would re-upload it and replace what uses it.
"""
from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path
from typing import Iterable, List, Tuple

from headlines.project import INFERENCE_DIR, ROOT, TRAINING_DIR

# Training code plus the inference code it copies into the artifact's code/ folder.
SOURCE_DIRS = (TRAINING_DIR, INFERENCE_DIR)
ENTRY_POINT = "train.py"


def _source_files(dirs: Iterable[Path]) -> List[Tuple[str, Path]]:
    files = {}
    for directory in dirs:
        for path in sorted(directory.glob("*.py")):
            if path.name in files:
                raise ValueError(f"{path.name} exists in two source folders")
            files[path.name] = path
    return sorted(files.items())


def build_sourcedir(destination: Path, dirs: Iterable[Path] = SOURCE_DIRS) -> Path:
    """Write ``sourcedir.tar.gz`` (flat: train.py and the modules it imports) to destination."""
    return _write_tarball(destination, _source_files(dirs))


#: The notebook's copy of the project: what `pip install -e .[local]`, the notebooks and the
#: configuration need (the tests, benchmarks and dev tools stay in the repository).
PROJECT_FILES = ("pyproject.toml", "setup.py", "constraints.txt", "README.md", "cdk.json")
PROJECT_DIRS = ("api", "functions", "headlines", "inference", "infra", "notebooks", "training")
PROJECT_FOLDER = "headlines-mlops"
_SKIPPED = ("__pycache__", ".ipynb_checkpoints", "_project")


def project_files(root: Path) -> List[Tuple[str, Path]]:
    """``(name in the archive, path)`` of the project's files under ``root`` (a source checkout)."""
    missing = [name for name in PROJECT_FILES if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{root} is not a source checkout of the project (no {', '.join(missing)}): the notebook's copy of the "
            "project is built from one; or set notebook.repository_url"
        )
    files = [(f"{PROJECT_FOLDER}/{name}", root / name) for name in PROJECT_FILES]
    for folder in PROJECT_DIRS:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and not any(part in _SKIPPED for part in relative.parts) and path.suffix != ".pyc":
                files.append((f"{PROJECT_FOLDER}/{relative.as_posix()}", path))
    return sorted(files)


def build_project_archive(destination: Path, root: Path = ROOT) -> Path:
    """Write ``project.tar.gz`` (one folder, ``headlines-mlops/``) to destination."""
    return _write_tarball(destination, project_files(root))


def _write_tarball(destination: Path, files: Iterable[Tuple[str, Path]]) -> Path:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    destination.parent.mkdir(parents=True, exist_ok=True)
    with destination.open("wb") as out, gzip.GzipFile(
        filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9
    ) as gz:
        gz.write(raw.getvalue())
    return destination
