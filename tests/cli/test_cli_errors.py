"""The command line's failures: one ``error:`` line, a non-zero exit, no traceback (unless
``--debug``), and a start that imports no heavy library for ``--help`` or ``classify``."""
from __future__ import annotations

import errno
import gzip
import json
import os
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from headlines import errors
from headlines.cli import commands as cli
from headlines.local.endpoint import free_port

HEAVY_MODULES = ("gensim", "scipy", "mxnet", "numpy", "rich", "sklearn", "boto3", "headlines.local.pipeline",
                 "headlines.local.embeddings", "headlines.local.api_front")


def headlines(*args: str, env=None, preexec_fn=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "headlines.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, preexec_fn=preexec_fn)


def one_error_line(result: subprocess.CompletedProcess, child_output: bool = False) -> str:
    """The one error line; no traceback of the CLI's own (``child_output``: lines train.py
    printed, which the pipeline echoes indented, are not the CLI's)."""
    own = [line for line in result.stderr.splitlines() if not (child_output and line.startswith("  train.py "))]
    assert not [line for line in own if "Traceback" in line], result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def imported_by(*argv: str) -> set:
    """The top-level modules ``headlines <argv>`` has loaded when it ends."""
    code = ("import sys, json\nfrom headlines import cli\n"
            "try:\n    cli.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"],
                                  ["classify", "--url", "http://127.0.0.1:{port}", "Fed raises rates"]],
                         ids=["help", "train-help", "classify"])
def test_help_and_classify_import_no_heavy_library(argv):
    argv = [item.format(port=free_port()) for item in argv]
    modules = imported_by(*argv)
    heavy = sorted(name for name in modules if name.split(".")[0] in HEAVY_MODULES or name in HEAVY_MODULES)
    assert heavy == []


def test_classify_without_a_server_is_one_line():
    result = headlines("classify", "--url", f"http://127.0.0.1:{free_port()}", "Fed raises rates", timeout=60)
    assert result.returncode == 1
    assert "cannot reach" in one_error_line(result)


def test_a_truncated_gz_corpus_is_one_line_before_any_training(tiny_news, tmp_path):
    corpus = tmp_path / "corpus.txt.gz"
    corpus.write_bytes(gzip.compress(os.urandom(100_000))[:20_000])
    result = headlines("train", "--data", str(tiny_news), "--corpus", str(corpus), "--workdir", str(tmp_path / "wd"))
    assert result.returncode == 2
    assert one_error_line(result).startswith(f"error: {corpus}: truncated or damaged archive")
    assert not (tmp_path / "wd" / "embeddings").exists()


def test_a_truncated_gz_news_file_is_one_line(tmp_path):
    news = tmp_path / "newsCorpora.csv.gz"
    news.write_bytes(gzip.compress(os.urandom(100_000))[:20_000])
    result = headlines("train", "--data", str(news), "--workdir", str(tmp_path / "wd"))
    assert result.returncode == 2
    assert one_error_line(result).startswith(f"error: {news}: truncated or damaged archive")


def test_a_truncated_news_zip_is_one_line(tiny_news, tmp_path):
    archive = tmp_path / "NewsAggregatorDataset.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as handle:
        handle.write(tiny_news, "newsCorpora.csv")
    archive.write_bytes(archive.read_bytes()[:100_000])
    result = headlines("train", "--data", str(archive), "--workdir", str(tmp_path / "wd"))
    assert result.returncode == 2
    assert one_error_line(result).startswith(f"error: {archive}: truncated or damaged zip")


def file_size_limit(limit: int):
    # A full disk, simulated: past RLIMIT_FSIZE a write fails with EFBIG (Python ignores
    # SIGXFSZ, and the ignored signal carries over to train.py), as it fails with ENOSPC.
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_disk_full_while_unpacking_is_one_line_naming_the_file(tiny_news, tmp_path):
    corpus = tmp_path / "corpus.txt.gz"
    corpus.write_bytes(gzip.compress(b"one two three " * 200_000))  # 2.8 MB unpacked
    result = headlines("train", "--data", str(tiny_news), "--corpus", str(corpus), "--workdir", str(tmp_path / "wd"),
                       preexec_fn=file_size_limit(1_000_000))
    assert result.returncode == 1
    line = one_error_line(result)
    assert line.startswith(f"error: {tmp_path / 'wd'}/") and "corpus.txt: no space left on the disk" in line, line
    assert not [path for path in (tmp_path / "wd").rglob("*") if path.is_file() and "corpus" in path.name]


@pytest.mark.slow
def test_disk_full_in_train_py_is_one_line_naming_the_workdir(tiny_news, tiny_corpus, tmp_path):
    """MXNet reports a full disk only as ``FileStream.Write incomplete`` (the 44 MB parameter
    file of the tiny model passes the 20 MB limit; the 4 MB word vectors do not)."""
    workdir = tmp_path / "wd"
    result = headlines("train", "--data", str(tiny_news), "--corpus", str(tiny_corpus), "--workdir", str(workdir),
                       "-H", "epochs=1", preexec_fn=file_size_limit(20_000_000), timeout=300)
    assert result.returncode == 1
    line = one_error_line(result, child_output=True)
    assert line.startswith(f"error: {workdir}: no space left on the disk"), line
    assert "FileStream.Write incomplete" in line


def run_main(monkeypatch, capsys, failure: BaseException, *argv: str):
    """cli.main with the local pipeline's train() failing as given (the same failure a real
    run raises; the subprocess tests above cause the real ones)."""
    from headlines.local import pipeline as local_pipeline

    def failing_train(*args, **kwargs):
        raise failure

    monkeypatch.setattr(local_pipeline, "train", failing_train)
    status = cli.main(["train", "--data", "x.csv", "--workdir", "/tmp/wd", *argv])
    return status, capsys.readouterr().err


def test_enospc_without_a_file_name_names_the_workdir(monkeypatch, capsys):
    status, err = run_main(monkeypatch, capsys, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert status == 1
    assert err == ("error: /tmp/wd: no space left on the disk (or over the file-size limit): free some space, "
                   "or pass --workdir on another disk\n")


def test_an_unreadable_file_is_named(monkeypatch, capsys):
    status, err = run_main(monkeypatch, capsys, PermissionError(errno.EACCES, "Permission denied", "/data/x.csv"))
    assert (status, err) == (2, "error: /data/x.csv: Permission denied\n")


def test_an_unexpected_failure_is_one_line_that_suggests_debug(monkeypatch, capsys):
    status, err = run_main(monkeypatch, capsys, KeyError("vector_dim"))
    assert status == 1
    assert err == "error: unexpected KeyError: 'vector_dim' (run again with --debug to see where)\n"


@pytest.mark.parametrize("how", ["flag-before", "flag-after", "environment"])
def test_debug_shows_the_traceback_then_the_line(monkeypatch, capsys, how):
    argv = ()
    if how == "environment":
        monkeypatch.setenv(errors.DEBUG_ENV, "1")
    elif how == "flag-after":
        argv = ("--debug",)
    if how == "flag-before":
        from headlines.local import pipeline as local_pipeline

        monkeypatch.setattr(local_pipeline, "train", lambda *a, **k: (_ for _ in ()).throw(KeyError("x")))
        status = cli.main(["--debug", "train", "--data", "x.csv", "--workdir", "/tmp/wd"])
        err = capsys.readouterr().err
    else:
        status, err = run_main(monkeypatch, capsys, KeyError("x"), *argv)
    assert status == 1
    assert err.startswith("Traceback (most recent call last):") and "KeyError: 'x'" in err
    assert err.splitlines()[-1].startswith("error: unexpected KeyError")


def test_interrupt_is_one_line_and_130(monkeypatch, capsys):
    status, err = run_main(monkeypatch, capsys, KeyboardInterrupt())
    assert (status, err) == (130, "interrupted\n")


def test_a_missing_data_file_is_still_exit_2():
    result = headlines("train", "--data", "/nonexistent/news.csv", "--workdir", "/tmp/unused-wd", timeout=60)
    assert result.returncode == 2
    assert one_error_line(result) == "error: /nonexistent/news.csv: no such file"


def test_the_default_workdir_is_the_pipelines():
    from headlines.local.pipeline import DEFAULT_WORKDIR

    args = cli.build_parser().parse_args(["train"])
    assert args.workdir is None  # filled in by main from local_pipeline, imported only then
    assert isinstance(DEFAULT_WORKDIR, Path)


def test_a_workdir_that_is_a_file_is_named(tmp_path):
    (tmp_path / "wd").write_text("")
    result = headlines("train", "--data", "/nonexistent.csv", "--workdir", str(tmp_path / "wd"), timeout=60)
    assert result.returncode == 2
    assert one_error_line(result) == f"error: {tmp_path / 'wd'}: exists and is not a folder"


def test_an_invalid_configuration_is_one_line(monkeypatch, capsys):
    from headlines.config import load_config

    try:
        load_config({"headlines.serving.mode": "sideways", "headlines.api.max_batch_size": "many"})
    except ValueError as error:
        failure = error
    status, err = run_main(monkeypatch, capsys, failure)
    assert status == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("error: cdk.json headlines.serving.mode: "), err  # names the key


def test_a_multi_line_message_becomes_one_line(monkeypatch, capsys):
    status, err = run_main(monkeypatch, capsys, ValueError("first\n  second\n"))
    assert (status, err) == (2, "error: first / second\n")
