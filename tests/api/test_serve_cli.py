"""``headlines serve`` with bad input: one ``error:`` line, a non-zero exit, no traceback, and
no partial serving folder (issue 14); missing prerequisites say how to get them (issue 10)."""
from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from headlines.local.endpoint import free_port

REPO = Path(__file__).resolve().parents[2]


def serve(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "headlines.cli", "serve", *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=REPO)


def one_error_line(result: subprocess.CompletedProcess, expected: str) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def archives(tmp_path_factory, tiny_training):
    root = tmp_path_factory.mktemp("archives")
    good = tiny_training.artifact
    data = good.read_bytes()
    (root / "truncated.tar.gz").write_bytes(data[: len(data) // 3])
    (root / "corrupt.tar.gz").write_bytes(b"this is not a tar archive\n" * 10)
    with tarfile.open(root / "escape.tar.gz", "w:gz") as tar:
        member = tarfile.TarInfo("../../x")
        member.size = 1
        tar.addfile(member, io.BytesIO(b"x"))
    with tarfile.open(root / "link.tar.gz", "w:gz") as tar:
        member = tarfile.TarInfo("code")
        member.type, member.linkname = tarfile.SYMTYPE, "/etc"
        tar.addfile(member)
    no_vocab = root / "no-vocab"
    shutil.copytree(tiny_training.model_dir, no_vocab)
    (no_vocab / "vocab.json").unlink()
    return root


@pytest.mark.parametrize("name, expected", [
    ("truncated.tar.gz", "not a usable model archive"),
    ("corrupt.tar.gz", "not a gzip-compressed tar archive"),
    ("escape.tar.gz", "outside the destination"),
    ("link.tar.gz", "is a link to an absolute path"),
    ("no-vocab", "vocab.json missing"),
])
def test_a_bad_model_is_one_line_and_leaves_no_partial_folder(archives, tmp_path, name, expected):
    result = serve("--model", str(archives / name), "--workdir", str(tmp_path), "--port", str(free_port()))
    one_error_line(result, expected)
    serving = tmp_path / "serving"
    assert not serving.exists() or list(serving.iterdir()) == []
    assert not (tmp_path.parent / "x").exists()


def test_the_extracted_folder_is_complete_and_named_by_content(tiny_training, tmp_path):
    from headlines.cli.commands import _unpacked

    first = _unpacked(tiny_training.artifact, tmp_path)
    assert (first / "vocab.json").is_file() and (first / "code" / "inference.py").is_file()
    assert _unpacked(tiny_training.artifact, tmp_path) == first
    assert [p.name for p in (tmp_path / "serving").iterdir()] == [first.name]


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_port_out_of_range_is_one_line(tiny_model_dir, port):
    one_error_line(serve("--model", str(tiny_model_dir), "--port", port), "out of range")


def test_a_port_in_use_is_one_line(tiny_model_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        one_error_line(serve("--model", str(tiny_model_dir), "--port", str(port)), "Address already in use")


def test_no_java_says_how_to_get_it(tiny_model_dir):
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))
    one_error_line(serve("--model", str(tiny_model_dir), "--port", str(free_port()), env=env), "openjdk-17")


def test_no_python_38_environment_says_how_to_get_it(tiny_model_dir, tmp_path):
    env = dict(os.environ, HEADLINES_SAGEMAKER_VENV=str(tmp_path / "nowhere"))
    one_error_line(serve("--model", str(tiny_model_dir), "--port", str(free_port()), env=env), "make install")
