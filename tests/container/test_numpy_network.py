"""inference/numpy_network.py answers what the exported MXNet graph answers, for the network
configurations train.py can export; a network it does not know is served by the graph.

Artifacts are exported by train.py's own code with random parameters (every member kind, with
and without n-grams, unsorted filter widths, headlines cut to fewer words than they have), and
served by inference.py both ways: with its numpy network and with the graph.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TAB_FILE = ROOT / "tests" / "fixtures" / "news" / "newsCorpora-small.csv"
EDGE = ROOT / "tests" / "fixtures" / "frozen" / "edge_headlines.json"
for folder in ("training", "inference"):
    if str(ROOT / folder) not in sys.path:
        sys.path.insert(0, str(ROOT / folder))

import train  # noqa: E402
from members import member_kinds, member_name, member_weights  # noqa: E402
from news_data import load_headlines  # noqa: E402

import inference  # noqa: E402

SMALL = ["--vector_dim", "16", "--num_filters", "8", "--ngram_buckets", "4096", "--ngram_dim", "8"]
CONFIGURATIONS = {
    "default": [],
    "one cnn": ["--ensemble", "1", "--linear_weight", "0"],
    "no n-grams": ["--ngram_buckets", "0"],
    "widths 4 and 2, 12 words": ["--kernel_sizes", "4,2", "--max_len", "12", "--max_ngrams", "64"],
    "two linear views of word and char": ["--ngram_features", "word,char", "--linear_views", "word,char",
                                          "--ensemble", "3"],
}


def export(folder: Path, arguments, seed: int = 0) -> Path:
    """An artifact as train.py writes it, with random parameters (idf 0 for padding, as trained)."""
    args = train.parse_args(["--train", str(TAB_FILE), "--embeddings", "unused", "--model-dir", str(folder),
                             *SMALL, *arguments])
    rows = load_headlines(str(TAB_FILE)).rows
    vocab = train.build_vocabulary(rows, {}, args)
    train.seed_everything(seed)
    net = train.fresh_network(args, vocab, {})
    rng = np.random.RandomState(seed)
    values = {name: rng.normal(0, 0.3, param.shape).astype(np.float32) for name, param in net.collect_params().items()}
    for name in values:
        if name.endswith("idf_weight"):
            values[name] = np.abs(values[name])
            values[name][0] = 0.0
    net = train.fresh_network(args, vocab, values)
    kinds = member_kinds(args)
    metrics = {"model": args.model, "training": {
        "members": [{"kind": kind, "name": member_name(kind, number)} for number, kind in enumerate(kinds)],
        "member_weights": member_weights(args, kinds)}}
    train.export_artifact(args, net, vocab, metrics)
    return folder


def headlines():
    rows = [row.title for row in load_headlines(str(TAB_FILE)).rows]
    return rows + json.loads(EDGE.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_the_numpy_network_answers_as_the_graph(tmp_path, name):
    folder = str(export(tmp_path / "model", CONFIGURATIONS[name]))
    model, graph = inference.HeadlineModel(folder), inference.HeadlineModel(folder, use_numpy=False)
    assert model.network is not None, "the numpy network did not load, or disagreed with the graph on the probes"
    assert not hasattr(model, "net") and graph.network is None  # the graph let go once the numpy network serves
    texts = headlines()
    for size in (1, 7, 100):  # requests of one headline, a few, a full batch
        fast = np.concatenate([model.probabilities(texts[start:start + size]) for start in range(0, 200, size)])
        slow = np.concatenate([graph.probabilities(texts[start:start + size]) for start in range(0, 200, size)])
        assert float(np.abs(fast - slow).max()) < 1e-6
    fast, slow = model.probabilities(texts), graph.probabilities(texts)
    assert float(np.abs(fast - slow).max()) < 1e-6
    assert (fast.argmax(axis=1) == slow.argmax(axis=1)).all()


def test_a_network_it_does_not_know_is_served_by_the_graph(tmp_path):
    model = inference.HeadlineModel(str(export(tmp_path / "model", ["--model", "seed"])))
    assert model.network is None and model.net is not None
    probabilities = model.probabilities(headlines()[:10])
    assert probabilities.shape == (10, 4) and np.allclose(probabilities.sum(axis=1), 1)


def test_a_numpy_network_that_disagrees_with_the_graph_does_not_serve(tmp_path, monkeypatch, capfd):
    folder = str(export(tmp_path / "model", []))
    monkeypatch.setattr(inference.numpy_network.Network, "probabilities",
                        lambda self, tokens, ids, offsets: np.full((len(tokens), 4), 0.25))
    model = inference.HeadlineModel(folder)
    assert model.network is None and model.net is not None
    assert "differs from the exported graph" in capfd.readouterr().err


def test_word_taps_are_computed_a_block_at_a_time(tmp_path):
    """The same numbers whichever request first needs a word (the blocks are fixed)."""
    folder = export(tmp_path / "model", [])
    texts = headlines()
    first = inference.HeadlineModel(str(folder))
    forward = np.concatenate([first.probabilities([text]) for text in texts])
    second = inference.HeadlineModel(str(folder))
    backward = np.concatenate([second.probabilities([text]) for text in reversed(texts)])[::-1]
    assert np.array_equal(forward, backward)
