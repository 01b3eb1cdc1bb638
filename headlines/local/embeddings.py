"""Local stand-in for the SageMaker BlazingText job (word2vec modes), built on gensim.

Takes BlazingText's hyperparameter names and writes what BlazingText's Word2Vec mode puts in
its ``model.tar.gz`` (SageMaker's BlazingText docs, "Model artifacts"): ``vectors.txt`` (word2vec
text format, header line ``<words> <dimension>``, most frequent words first), ``vectors.bin``
(BlazingText's binary, which its hosting reads; here the word2vec binary format, which nothing
in this project reads) and, with ``evaluation`` true, ``eval.json`` (Spearman's rho on WS-353,
the set BlazingText's ``evaluation`` reports on; gensim's wheel ships it).
"""
from __future__ import annotations

import json
import logging
import os
import zlib
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional

from gensim.models import FastText, Word2Vec
from gensim.models.callbacks import CallbackAny2Vec
from gensim.models.word2vec import Text8Corpus
from gensim.test.utils import datapath

from headlines.artifacts import write_tar_gz
from headlines.hyperparameters import schema

LOG = logging.getLogger(__name__)
BLAZINGTEXT_FILES = ("vectors.txt", "vectors.bin", "eval.json")
SUPPORTED_MODES = ("skipgram", "cbow", "batch_skipgram")


class EmbeddingsError(Exception):
    """Bad hyperparameters or corpus; the message is one line for the user."""


def _stable_hash(text: str) -> int:
    # gensim seeds each word's initial vector with hashfxn(word + seed); Python's own hash()
    # changes between processes, which would make two runs with one seed differ.
    return zlib.crc32(text.encode("utf-8"))


def gensim_arguments(hyperparameters: Mapping[str, Any], seed: int, workers: int) -> Dict[str, Any]:
    """Maps BlazingText hyperparameters onto gensim's Word2Vec/FastText arguments."""
    hp = dict(hyperparameters)
    mode = hp.pop("mode", "skipgram")
    if mode not in SUPPORTED_MODES:
        raise EmbeddingsError(f"embeddings mode '{mode}' is not a word2vec mode (use one of {', '.join(SUPPORTED_MODES)})")
    # BlazingText's names (training/hyperparameters.py); batch_size, buckets, min_char and
    # max_char have no gensim meaning here, evaluation decides whether eval.json is written.
    known = {spec.name for spec in schema().BLAZINGTEXT}
    unknown = sorted(set(hp) - known)
    if unknown:
        raise EmbeddingsError(f"unknown BlazingText hyperparameter(s): {', '.join(unknown)}")
    return {
        "sg": 0 if mode == "cbow" else 1,  # batch_skipgram is skip-gram with mini-batches
        "vector_size": int(hp.get("vector_dim", 100)),
        "window": int(hp.get("window_size", 5)),
        "negative": int(hp.get("negative_samples", 5)),
        "hs": 0,
        "min_count": int(hp.get("min_count", 5)),
        "sample": float(hp.get("sampling_threshold", 1e-4)),
        "epochs": int(hp.get("epochs", 5)),
        "alpha": float(hp.get("learning_rate", 0.05)),
        "seed": seed,
        "workers": workers,
        "hashfxn": _stable_hash,
    }


class _EpochProgress(CallbackAny2Vec):
    def __init__(self, on_epoch: Callable[[int], None]):
        self.on_epoch = on_epoch
        self.epoch = 0

    def on_epoch_end(self, model) -> None:
        self.epoch += 1
        self.on_epoch(self.epoch)


def ws353_spearman(vectors) -> Dict[str, Any]:
    pearson, spearman, oov_percent = vectors.evaluate_word_pairs(datapath("wordsim353.tsv"))
    rho = float(spearman.statistic if hasattr(spearman, "statistic") else spearman[0])
    return {
        "EN-WS-353-ALL.txt": {"spearmans_rho": rho, "not_found_percent": float(oov_percent)},
        "mean_rho": rho,
    }


def train_embeddings(corpus: Path, output_dir: Path, hyperparameters: Mapping[str, Any],
                     seed: int = 1, workers: int = 1,
                     on_epoch: Optional[Callable[[int], None]] = None) -> Dict[str, Any]:
    """Trains word vectors on a text8-style corpus; writes vectors.txt and eval.json.

    With one worker the vectors are the same on every run with the same seed; more workers
    are faster but not reproducible (gensim's threads race by design).
    """
    corpus = Path(corpus)
    if not corpus.is_file() or corpus.stat().st_size == 0:
        raise EmbeddingsError(f"{corpus}: corpus file missing or empty")
    arguments = gensim_arguments(hyperparameters, seed, workers)
    subwords = bool(dict(hyperparameters).get("subwords", False))
    arguments.pop("subwords", None)
    callbacks = [_EpochProgress(on_epoch)] if on_epoch else []
    model_class = FastText if subwords else Word2Vec
    model = model_class(sentences=Text8Corpus(str(corpus)), callbacks=callbacks, **arguments)
    if len(model.wv) == 0:
        raise EmbeddingsError(f"{corpus}: no word occurs min_count={arguments['min_count']} times")
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, binary in (("vectors.txt", False), ("vectors.bin", True)):
        temporary = output_dir / (name + ".partial")
        model.wv.save_word2vec_format(str(temporary), binary=binary)
        os.replace(temporary, output_dir / name)
    evaluation = ws353_spearman(model.wv)
    if dict(hyperparameters).get("evaluation", True):
        temporary = output_dir / "eval.json.partial"
        temporary.write_text(json.dumps(evaluation, indent=1), encoding="utf-8")
        os.replace(temporary, output_dir / "eval.json")
    return {"words": len(model.wv), "dimension": model.wv.vector_size, **evaluation}


def package_model(output_dir: Path, archive: Path) -> Path:
    """BlazingText's ``model.tar.gz`` (what its job uploads; the classifier's embeddings channel)."""
    members = [(name, output_dir / name) for name in BLAZINGTEXT_FILES if (output_dir / name).is_file()]
    return write_tar_gz(archive, members)
