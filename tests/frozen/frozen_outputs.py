"""What the frozen-outputs tests compare: run by either Python (3.11 here, 3.8 in the
SageMaker-shaped environment) against a checkout's inference/ and training/ code.

    python tests/frozen/frozen_outputs.py ROOT MODEL_DIR OUT.npz

writes, for the shipped sample's 10,854 headlines followed by the edge cases of
``tests/fixtures/frozen/edge_headlines.json``:

- ``probabilities``: the model's class probabilities, as ``HeadlineModel.probabilities`` serves
  them (requests of 100 headlines);
- ``<name>_rows``: the CRC-32 of each headline's encoding (its int32 bytes), and ``<name>_digest``
  the SHA-256 of all of them, for the encodings training and inference use: the model's own
  vocabulary (``vocab``), the same words with cdk.json's default n-gram settings
  (``default``: 131,072 buckets), and ``batches.encode`` of both as training runs it, with the
  linear members' views (``train_vocab``, ``train_default``: word indices, n-gram ids and
  offsets, each view's buckets); ``tokens_digest``: the tokens of every headline.

``tests/fixtures/frozen/`` holds these outputs of the code at commit 0fbf72d (before issue 25's
speed work), made by this script in ``.venv-sagemaker``; see its README.
"""
import gzip
import hashlib
import json
import os
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, os.pardir, "fixtures", "frozen")
# cdk.json's classifier defaults for the n-gram features (the model the project trains).
DEFAULT_NGRAMS = {"buckets": 131072, "max_ngrams": 640, "char_ngrams": (3, 5), "text_char_ngrams": (2, 5),
                  "families": ("word", "word_bigram", "char", "text_char")}
DEFAULT_VIEWS = [("word", "word_bigram", "char"), ("text_char",)]
REQUEST = 100


def headlines(root):
    """The sample's titles (UCI's tab-separated format) and labels, then the edge cases."""
    path = os.path.join(root, "headlines", "sample_data", "newsCorpora-sample.csv.gz")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        rows = [line.rstrip("\r\n").split("\t") for line in handle]
    titles = [row[1] for row in rows]
    labels = ["btem".index(row[4]) for row in rows]
    with open(os.path.join(FIXTURES, "edge_headlines.json"), encoding="utf-8") as handle:
        edge = json.load(handle)
    return titles + edge, labels + [0] * len(edge)


def _row_crcs(matrix):
    return np.asarray([zlib.crc32(np.ascontiguousarray(row, dtype=np.int32).tobytes()) for row in matrix],
                      dtype=np.uint32)


def _digest(*arrays):
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def main(root, model_dir, out):
    sys.path[:0] = [os.path.join(root, "inference"), os.path.join(root, "training")]
    import batches
    from headline_text import NgramHashing, Vocabulary, tokenize

    import inference

    texts, labels = headlines(root)
    model = inference.HeadlineModel(model_dir)
    probabilities = np.concatenate([model.probabilities(texts[start:start + REQUEST])
                                    for start in range(0, len(texts), REQUEST)])
    results = {"probabilities": probabilities.astype(np.float64)}
    tokens = json.dumps([tokenize(text) for text in texts]).encode("utf-8")
    results["tokens_digest"] = np.asarray(hashlib.sha256(tokens).hexdigest())

    own = model.vocab
    default = Vocabulary(own.tokens, own.max_len, NgramHashing(
        DEFAULT_NGRAMS["buckets"], DEFAULT_NGRAMS["max_ngrams"], DEFAULT_NGRAMS["char_ngrams"],
        DEFAULT_NGRAMS["families"], DEFAULT_NGRAMS["text_char_ngrams"]))
    for name, vocab in (("vocab", own), ("default", default)):
        encoded = np.asarray([vocab.encode(text) for text in texts], dtype=np.int32)
        results[name + "_rows"] = _row_crcs(encoded)
        results[name + "_digest"] = np.asarray(_digest(encoded))
        views = batches.view_hashers(vocab, DEFAULT_VIEWS)
        assert views is not None
        compact, seen = batches.encode(texts, labels, vocab, views)
        plain, none = batches.encode(texts, labels, vocab)
        assert not none
        ids = [compact.ngram_ids[compact.ngram_offsets[row]:compact.ngram_offsets[row + 1]]
               for row in range(len(texts))]
        results["train_" + name + "_rows"] = np.asarray(
            [zlib.crc32(np.ascontiguousarray(compact.tokens[row], dtype=np.int32).tobytes()
                        + np.ascontiguousarray(ids[row], dtype=np.int32).tobytes()) for row in range(len(texts))],
            dtype=np.uint32)
        results["train_" + name + "_digest"] = np.asarray(_digest(
            compact.tokens.astype(np.int32), compact.ngram_ids.astype(np.int32),
            compact.ngram_offsets.astype(np.int64), *[marks.astype(np.uint8) for marks in seen]))
        results["train_plain_" + name + "_digest"] = np.asarray(_digest(
            plain.tokens.astype(np.int32), plain.ngram_ids.astype(np.int32), plain.ngram_offsets.astype(np.int64)))
    np.savez_compressed(out, **results)


if __name__ == "__main__":
    main(*sys.argv[1:4])
