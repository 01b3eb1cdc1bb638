"""The local BlazingText stand-in: BlazingText's names in, BlazingText's layout out."""
from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest

from headlines.config import load_config
from headlines.local.embeddings import EmbeddingsError, gensim_arguments, package_model, train_embeddings

SMALL = {"mode": "skipgram", "vector_dim": 16, "epochs": 1, "min_count": 3, "window_size": 3,
         "negative_samples": 3, "sampling_threshold": 0.001, "learning_rate": 0.05, "subwords": False}


def test_the_configured_blazingtext_hyperparameters_map_onto_gensim():
    arguments = gensim_arguments(load_config().embeddings.hyperparameters, seed=7, workers=1)
    assert arguments["sg"] == 1 and arguments["hs"] == 0  # batch_skipgram is skip-gram
    assert (arguments["vector_size"], arguments["window"], arguments["negative"], arguments["min_count"],
            arguments["epochs"]) == (100, 5, 5, 5, 5)
    assert gensim_arguments({"mode": "cbow"}, seed=1, workers=1)["sg"] == 0


@pytest.mark.parametrize("hyperparameters, message", [
    ({"mode": "supervised"}, "not a word2vec mode"),
    ({"mode": "skipgram", "vector_dims": 10}, "unknown BlazingText hyperparameter"),
])
def test_bad_hyperparameters_are_refused(hyperparameters, message):
    with pytest.raises(EmbeddingsError, match=message):
        gensim_arguments(hyperparameters, seed=1, workers=1)


def test_writes_blazingtext_layout_and_is_reproducible(tiny_corpus, tmp_path):
    epochs = []
    first = train_embeddings(tiny_corpus, tmp_path / "a", SMALL, seed=3, on_epoch=epochs.append)
    train_embeddings(tiny_corpus, tmp_path / "b", SMALL, seed=3)
    assert epochs == [1]
    lines = (tmp_path / "a" / "vectors.txt").read_text().splitlines()
    words, dim = map(int, lines[0].split())
    assert dim == 16 and words == len(lines) - 1 == first["words"]
    assert len(lines[1].split()) == 17 and lines[1].split()[0] == "the"  # most frequent first
    evaluation = json.loads((tmp_path / "a" / "eval.json").read_text())
    assert -1 <= evaluation["EN-WS-353-ALL.txt"]["spearmans_rho"] <= 1
    assert evaluation["mean_rho"] == evaluation["EN-WS-353-ALL.txt"]["spearmans_rho"]
    # One worker and a stable word hash: the same seed gives the same vectors.
    assert (tmp_path / "a" / "vectors.txt").read_bytes() == (tmp_path / "b" / "vectors.txt").read_bytes()


def test_subwords_train_fasttext_vectors(tiny_corpus, tmp_path):
    train_embeddings(tiny_corpus, tmp_path, dict(SMALL, subwords=True), seed=1)
    first = (tmp_path / "vectors.txt").read_text().splitlines()[1].split()
    assert len(first) == 17 and np.isfinite(np.asarray(first[1:], dtype=float)).all()


def test_an_empty_corpus_is_a_one_line_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(EmbeddingsError, match="missing or empty"):
        train_embeddings(empty, tmp_path / "out", SMALL)


def test_packs_blazingtexts_model_tar_gz(tiny_corpus, tmp_path):
    """What BlazingText's Word2Vec mode uploads: vectors.txt, vectors.bin and, with evaluation, eval.json."""
    from gensim.models import KeyedVectors

    train_embeddings(tiny_corpus, tmp_path / "files", dict(SMALL, evaluation=True), seed=1)
    archive = package_model(tmp_path / "files", tmp_path / "out" / "model.tar.gz")
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["eval.json", "vectors.bin", "vectors.txt"]
    binary = KeyedVectors.load_word2vec_format(str(tmp_path / "files" / "vectors.bin"), binary=True)
    text = KeyedVectors.load_word2vec_format(str(tmp_path / "files" / "vectors.txt"), binary=False)
    assert binary.index_to_key == text.index_to_key
    np.testing.assert_allclose(binary["the"], text["the"], atol=1e-5)
    assert list((tmp_path / "out").iterdir()) == [archive]  # no partial file left beside it

    train_embeddings(tiny_corpus, tmp_path / "quiet", dict(SMALL, evaluation=False), seed=1)
    assert not (tmp_path / "quiet" / "eval.json").exists()


def test_the_configured_blazingtext_hyperparameters_are_typed():
    from headlines.config import ConfigError

    with pytest.raises(ConfigError, match=r"^cdk.json headlines.embeddings.hyperparameters: unknown hyperparameter "
                                          r"'vector_dims' \(did you mean 'vector_dim'\?\)$"):
        load_config({"headlines.embeddings.hyperparameters.vector_dims": 10})
    with pytest.raises(ConfigError, match="sampling_threshold: must be < 1, got 2"):
        load_config({"headlines.embeddings.hyperparameters.sampling_threshold": 2})
