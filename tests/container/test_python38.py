"""The code that runs in SageMaker's MXNet containers (Python 3.8) must be valid Python 3.8."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTAINER_CODE = [ROOT / "training", ROOT / "inference"]
PYTHON38_CANDIDATES = [Path("/root/.pyenv/versions/3.8.18/bin/python")]


def _sources():
    return sorted(path for folder in CONTAINER_CODE for path in folder.rglob("*.py"))


def _python38():
    for candidate in PYTHON38_CANDIDATES:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("python3.8")
    if found:
        # pyenv's shim exists even when 3.8 is not the selected version: ask it.
        probe = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 8)":
            return found
    return None


def test_vermin_finds_nothing_newer_than_python_3_8():
    vermin = Path(sys.executable).with_name("vermin")
    command = [str(vermin)] if vermin.exists() else [sys.executable, "-m", "vermin"]
    result = subprocess.run(
        command + ["--target=3.8-", "--violations", "--no-tips", "--eval-annotations",
                   *map(str, CONTAINER_CODE)],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _sources()


def test_every_file_compiles_with_python_3_8(tmp_path):
    python38 = _python38()
    if python38 is None:
        pytest.skip("no Python 3.8 interpreter here (/root/.pyenv/versions/3.8.18/bin/python or python3.8)")
    for source in _sources():
        target = tmp_path / (source.parent.name + "_" + source.name + "c")
        result = subprocess.run(
            [python38, "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
             str(source), str(target)], capture_output=True, text=True)
        assert result.returncode == 0, "{}: {}".format(source, result.stderr.strip().splitlines()[-1:])
