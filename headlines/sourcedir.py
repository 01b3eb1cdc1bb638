"""Builds the script-mode ``sourcedir.tar.gz`` that both SageMaker and the local pipeline run.

SageMaker script mode wants a gzipped tarball, while CDK directory assets are zips, so the
CDK app builds this file at synth time and publishes it as a file asset. It must be
byte-for-byte reproducible (sorted entries, fixed mtimes and owners, gzip mtime 0), or every
synth would change the asset hash and every deploy would re-upload it and replace the job.
"""
from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path
from typing import Iterable, List, Tuple

from headlines.project import INFERENCE_DIR, TRAINING_DIR

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
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in _source_files(dirs):
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
