"""Predictions and encodings do not change: today's code against the outputs of the code at
commit 0fbf72d (before issue 25's speed work), frozen in ``tests/fixtures/frozen/``.

A committed model (the default architecture, small: see the fixture's README) is served by
the current ``inference/`` code on the shipped sample's 10,854 headlines plus edge cases; each
headline's probabilities must be within 1e-5 of the frozen ones, with the same category. The
encoder's output (what inference feeds the network and what training encodes, its views'
buckets included) must be identical, id for id. Both in this Python (3.11, mxnet 1.9.1) and in
the SageMaker-shaped one (3.8, mxnet 1.9.0, numpy 1.19.5: ``.venv-sagemaker``).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "frozen"
SCRIPT = Path(__file__).with_name("frozen_outputs.py")
FROZEN = FIXTURES / "outputs-0fbf72d.npz"
TOLERANCE = 1e-5
ENCODINGS = ("vocab", "default", "train_vocab", "train_default")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["python3.11", pytest.param("python3.8", marks=pytest.mark.parity)])
def outputs(request, tmp_path_factory):
    """The current code's outputs, in this Python or in the SageMaker-shaped 3.8 one."""
    python = request.getfixturevalue("sagemaker_python") if request.param == "python3.8" else Path(sys.executable)
    out = tmp_path_factory.mktemp("frozen") / "outputs.npz"
    result = subprocess.run([str(python), str(SCRIPT), str(ROOT), str(FIXTURES / "model"), str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(out)


@pytest.fixture(scope="module")
def frozen():
    return np.load(FROZEN)


def _texts():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import frozen_outputs
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return frozen_outputs.headlines(str(ROOT))[0]


def _first_rows(mask, limit=5):
    texts = _texts()
    return [(int(row), texts[row][:80]) for row in np.flatnonzero(mask)[:limit]]


def test_probabilities_are_the_frozen_ones(outputs, frozen):
    now, before = outputs["probabilities"], frozen["probabilities"]
    assert now.shape == before.shape == (len(_texts()), 4)
    off = np.abs(now - before).max(axis=1) > TOLERANCE
    assert not off.any(), f"{int(off.sum())} headlines moved by more than {TOLERANCE} " \
                          f"(largest {float(np.abs(now - before).max()):.2g}): {_first_rows(off)}"
    changed = now.argmax(axis=1) != before.argmax(axis=1)
    assert not changed.any(), f"{int(changed.sum())} headlines changed category: {_first_rows(changed)}"


def test_tokens_are_the_frozen_ones(outputs, frozen):
    assert str(outputs["tokens_digest"]) == str(frozen["tokens_digest"])


@pytest.mark.parametrize("name", ENCODINGS)
def test_encodings_are_the_frozen_ones(outputs, frozen, name):
    """Inference's ``Vocabulary.encode`` (``vocab``: the model's settings; ``default``: cdk.json's
    131,072 buckets) and training's ``batches.encode`` with the linear members' views (``train_*``)."""
    differ = outputs[name + "_rows"] != frozen[name + "_rows"]
    assert not differ.any(), f"{int(differ.sum())} headlines encode differently: {_first_rows(differ)}"
    assert str(outputs[name + "_digest"]) == str(frozen[name + "_digest"])
    if name.startswith("train_"):
        plain = "train_plain_" + name[len("train_"):] + "_digest"
        assert str(outputs[plain]) == str(frozen[plain])


def test_the_frozen_fixture_covers_what_it_should(frozen):
    """The edge cases reach the n-gram cut (more than 640 distinct ids) and non-ASCII folding,
    and no two classes are so close that the tolerance could swap them."""
    edge = json.loads((FIXTURES / "edge_headlines.json").read_text(encoding="utf-8"))
    assert any(len(text) > 400 for text in edge) and any(not text.isascii() for text in edge)
    top_two = np.sort(frozen["probabilities"], axis=1)[:, -2:]
    assert (top_two[:, 1] - top_two[:, 0]).min() > 2 * TOLERANCE
