"""Inputs of the local pipeline: compressed files are unpacked in the work directory, keyed by
content, checked before any work, and written under a temporary name first."""
from __future__ import annotations

import errno
import gzip
import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from headlines.config import load_config
from headlines.local import sources
from headlines.local.sources import InputError, resolve_corpus, resolve_news

NEWS_ROWS = [
    "1\tFed raises interest rates again\thttp://x/1\tReuters\tb\tstory1\tx.com\t1394470370698",
    "2\tNew Ebola case confirmed in Guinea\thttp://x/2\tBBC\tm\tstory2\tx.com\t1394470370699",
]


def quiet() -> Console:
    return Console(file=io.StringIO())


def corpus(tmp_path: Path, folder: str, words: str) -> Path:
    path = tmp_path / folder / "corpus.txt.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(words.encode()))
    return path


def files_under(folder: Path) -> set:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def test_a_different_gz_under_the_same_name_is_not_the_cached_copy(tmp_path):
    workdir = tmp_path / "wd"
    first = resolve_corpus(str(corpus(tmp_path, "a", "one two three " * 50)), workdir, load_config(), quiet())
    again = resolve_corpus(str(corpus(tmp_path, "b", "one two three " * 50)), workdir, load_config(), quiet())
    other = resolve_corpus(str(corpus(tmp_path, "c", "four five six " * 50)), workdir, load_config(), quiet())
    assert first.path == again.path  # same content: the unpacked copy is reused
    assert other.path != first.path and other.path.name == first.path.name == "corpus.txt"
    assert other.path.read_text() == "four five six " * 50
    assert first.path.read_text() == "one two three " * 50
    assert workdir in other.path.parents


def test_the_embeddings_cache_follows_the_content(tmp_path, monkeypatch):
    """The word-vector cache key is the unpacked corpus's checksum: a new corpus.txt.gz
    under the old name gets new vectors (embeddings_step is the pipeline's own function)."""
    from headlines.local import pipeline as local_pipeline

    trained = []

    def fake_train(corpus_path, output, hyperparameters, on_epoch=None):
        trained.append(Path(corpus_path).read_text())
        output.mkdir(parents=True, exist_ok=True)
        (output / "vectors.txt").write_text("1 1\nword 0.5\n")
        return {"words": 1, "dimension": 1, "mean_rho": 0.0}

    monkeypatch.setattr(local_pipeline, "train_embeddings", fake_train)
    workdir = tmp_path / "wd"
    paths = []
    for words in ("alpha beta ", "gamma delta "):
        path = corpus(tmp_path, "in", words * 20)  # the same name both times
        text = resolve_corpus(str(path), workdir, load_config(), quiet())
        paths.append(local_pipeline.embeddings_step(text.path, workdir, {"epochs": 1}, quiet()))
    assert paths[0] != paths[1]
    assert trained == ["alpha beta " * 20, "gamma delta " * 20]


def test_a_corpus_zip_is_unpacked_in_the_workdir_even_from_a_read_only_folder(tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    archive = folder / "text8.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("text8", "anarchism originated as a term " * 100)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)  # (root may still write: the last line checks for any user)
    try:
        resolved = resolve_corpus(str(archive), tmp_path / "wd", load_config(), quiet())
    finally:
        folder.chmod(stat.S_IRWXU)
    assert (tmp_path / "wd") in resolved.path.parents and resolved.path.name == "text8"
    assert resolved.path.read_text() == "anarchism originated as a term " * 100
    assert files_under(folder) == {"text8.zip"}  # nothing written next to the input


def test_a_corpus_zip_on_a_read_only_mount(tmp_path):
    """The same on a truly read-only file system (a read-only bind mount in a private mount
    namespace: root cannot write there either)."""
    import shutil
    import subprocess
    import sys

    folder = tmp_path / "mounted"
    folder.mkdir()
    with zipfile.ZipFile(folder / "text8.zip", "w", zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("text8", "anarchism originated " * 100)
    probe = subprocess.run(["unshare", "-r", "-m", "true"], capture_output=True) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("no unshare (private mount namespaces) here")
    code = ("import io, sys; from rich.console import Console; from headlines.config import load_config; "
            "from headlines.local.sources import resolve_corpus; "
            "from pathlib import Path; "
            "print(resolve_corpus(sys.argv[1], Path(sys.argv[2]), load_config(), Console(file=io.StringIO())).path)")
    script = (f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
              f"touch {folder}/probe 2>/dev/null && exit 3; "
              f"exec {sys.executable} -c '{code}' {folder / 'text8.zip'} {tmp_path / 'wd'}")
    result = subprocess.run(["unshare", "-r", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    unpacked = Path(result.stdout.strip())
    assert (tmp_path / "wd") in unpacked.parents and unpacked.read_text() == "anarchism originated " * 100
    assert files_under(folder) == {"text8.zip"}


def test_a_corpus_zip_with_several_files_is_an_error(tmp_path):
    archive = tmp_path / "corpus.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("a.txt", "one")
        handle.writestr("b.txt", "two")
    with pytest.raises(InputError, match="exactly one text file"):
        resolve_corpus(str(archive), tmp_path / "wd", load_config(), quiet())


def stored_news_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as handle:
        handle.writestr("newsCorpora.csv", "\n".join(NEWS_ROWS * 200) + "\n")
    return path


def test_a_truncated_stored_zip_is_not_read_as_a_csv(tmp_path):
    archive = stored_news_zip(tmp_path / "NewsAggregatorDataset.zip")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"NewsAggregatorDataset.zip: truncated or damaged zip"):
        resolve_news(str(archive), tmp_path / "wd", load_config(), quiet())


def test_a_zip_with_a_bad_crc_is_an_error(tmp_path):
    archive = stored_news_zip(tmp_path / "news.zip")
    data = bytearray(archive.read_bytes())
    data[200] ^= 0xFF  # inside the stored member: the central directory is intact
    archive.write_bytes(bytes(data))
    with pytest.raises(InputError, match="news.zip: damaged zip"):
        resolve_news(str(archive), tmp_path / "wd", load_config(), quiet())


def test_an_intact_news_zip_is_read_in_place(tmp_path):
    archive = stored_news_zip(tmp_path / "news.zip")
    assert resolve_news(str(archive), tmp_path / "wd", load_config(), quiet()).path == archive


def test_a_gz_news_file_is_unpacked_in_the_workdir(tmp_path):
    archive = tmp_path / "newsCorpora.csv.gz"
    archive.write_bytes(gzip.compress(("\n".join(NEWS_ROWS) + "\n").encode()))
    resolved = resolve_news(str(archive), tmp_path / "wd", load_config(), quiet())
    assert resolved.path.name == "newsCorpora.csv" and (tmp_path / "wd") in resolved.path.parents
    assert resolved.path.read_text().splitlines() == NEWS_ROWS


@pytest.mark.parametrize("resolve", [resolve_news, resolve_corpus], ids=["news", "corpus"])
def test_a_truncated_gz_is_one_error_naming_the_file_and_leaves_no_partial_file(tmp_path, resolve):
    archive = tmp_path / "input.txt.gz"
    archive.write_bytes(gzip.compress(os.urandom(200_000))[:50_000])
    workdir = tmp_path / "wd"
    with pytest.raises(InputError, match=r"input.txt.gz: truncated or damaged archive \(Compressed file ended"):
        resolve(str(archive), workdir, load_config(), quiet())
    assert files_under(workdir) == set()


def test_disk_full_while_unpacking_names_the_file_and_leaves_no_partial_file(tmp_path, monkeypatch):
    archive = corpus(tmp_path, "in", "one two three " * 100_000)

    class FullDisk(io.FileIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    real_fdopen = os.fdopen
    monkeypatch.setattr(sources.os, "fdopen", lambda fd, mode: FullDisk(fd, "wb") if "w" in mode
                        else real_fdopen(fd, mode))
    workdir = tmp_path / "wd"
    with pytest.raises(OSError) as caught:
        resolve_corpus(str(archive), workdir, load_config(), quiet())
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename.startswith(str(workdir)) and caught.value.filename.endswith("corpus.txt")
    assert files_under(workdir) == set()


def test_the_download_bar_leaves_nothing_in_a_log():
    """Not a terminal (a log, CI): no bar, and no empty line where a transient bar was."""
    console = Console(file=io.StringIO(), width=100)
    console.print("before")
    with sources._download_bar(console, "downloading x") as progress:
        progress(10, 100)
    console.print("after")
    assert console.file.getvalue() == "before\nafter\n"


def test_a_corpus_zip_with_a_bad_crc_is_an_error_and_leaves_no_partial_file(tmp_path):
    archive = tmp_path / "text8.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as handle:
        handle.writestr("text8", "anarchism originated " * 1000)
    data = bytearray(archive.read_bytes())
    data[500] ^= 0xFF
    archive.write_bytes(bytes(data))
    workdir = tmp_path / "wd"
    with pytest.raises(InputError, match=r"text8.zip: truncated or damaged archive \(Bad CRC-32"):
        resolve_corpus(str(archive), workdir, load_config(), quiet())
    assert files_under(workdir) == set()


def test_a_corpus_zip_member_named_with_dots_stays_in_the_workdir(tmp_path):
    archive = tmp_path / "in" / "corpus.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("../../escaped.txt", "one two three")
    resolved = resolve_corpus(str(archive), tmp_path / "wd", load_config(), quiet())
    assert resolved.path.name == "escaped.txt" and (tmp_path / "wd") in resolved.path.parents
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()


def test_an_interrupt_while_unpacking_leaves_no_partial_file(tmp_path, monkeypatch):
    archive = corpus(tmp_path, "in", "one two three " * 100_000)
    reads = []

    def interrupted_read(source, archive_path):
        reads.append(1)
        if len(reads) > 1:
            raise KeyboardInterrupt  # Ctrl-C after the first chunk was written
        return source.read(sources.CHUNK)

    monkeypatch.setattr(sources, "_read", interrupted_read)
    workdir = tmp_path / "wd"
    with pytest.raises(KeyboardInterrupt):
        resolve_corpus(str(archive), workdir, load_config(), quiet())
    assert files_under(workdir) == set()


def test_the_reports_default_data_is_the_sample_training_fell_back_to(tmp_path):
    """Offline, training unpacks the shipped sample under sample/<its SHA-256>/; `headlines report`
    finds it there by default (it looked for sample/newsCorpora-sample.csv and said "no data file")."""
    from headlines.analysis import report
    from headlines.local.endpoint import free_port

    unreachable = f"http://127.0.0.1:{free_port()}/NewsAggregatorDataset.zip"  # nothing listens there
    config = load_config({"headlines.data.news_url": unreachable})
    assert report.default_news(tmp_path, unreachable) is None  # nothing trained here yet
    resolved = resolve_news(None, tmp_path, config, quiet())
    assert resolved.origin == "sample" and resolved.path == sources.sample_news_copy(tmp_path)
    assert report.default_news(tmp_path, unreachable) == resolved.path
    assert resolved.path.parent.parent == tmp_path / "sample" and resolved.path.name == "newsCorpora-sample.csv"
