"""Reading BlazingText's word vectors (word2vec text format) for the classifier (Python 3.8).

The embeddings channel holds either BlazingText's ``model.tar.gz`` (with ``vectors.txt``
inside) or an unpacked ``vectors.txt``. Only the words the classifier's vocabulary needs are
kept, so a large vector file costs one streaming pass and little memory.
"""
import io
import os
import tarfile
from typing import Dict, Iterable, Iterator, Optional, Set, Tuple

import numpy as np
from news_data import DataError

VECTORS_NAME = "vectors.txt"


def _find(channel: str) -> str:
    if os.path.isfile(channel):
        return channel
    for root, _, files in os.walk(channel):
        for name in sorted(files):
            if name == VECTORS_NAME or name.endswith(".tar.gz"):
                return os.path.join(root, name)
    raise DataError("{}: no {} or model.tar.gz with word vectors".format(channel, VECTORS_NAME))


def _lines(path: str) -> Iterator[str]:
    if path.endswith(".tar.gz"):
        with tarfile.open(path, "r:gz") as archive:
            member = next((m for m in archive if os.path.basename(m.name) == VECTORS_NAME), None)
            if member is None:
                raise DataError("{}: no {} inside".format(path, VECTORS_NAME))
            packed = archive.extractfile(member)
            if packed is None:
                raise DataError("{}: {} is not a file".format(path, VECTORS_NAME))
            for line in io.TextIOWrapper(packed, encoding="utf-8", errors="replace"):
                yield line
    else:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                yield line


def read_vectors(channel: str, expected_dim: int,
                 wanted: Optional[Iterable[str]] = None) -> Tuple[Dict[str, np.ndarray], int]:
    """(word -> vector for the wanted words, number of words in the file).

    Fails with a one-line DataError when the file's dimension is not ``expected_dim``.
    """
    path = _find(channel)
    wanted_set: Optional[Set[str]] = set(wanted) if wanted is not None else None
    lines = _lines(path)
    try:
        header = next(lines).split()
        count, dim = int(header[0]), int(header[1])
    except (StopIteration, ValueError, IndexError):
        raise DataError("{}: not word2vec text format (first line must be '<words> <dimension>')".format(path)) from None
    if dim != expected_dim:
        raise DataError(
            "{}: word vectors have dimension {}, but the configuration says vector_dim={}".format(path, dim, expected_dim)
        )
    vectors: Dict[str, np.ndarray] = {}
    for number, line in enumerate(lines, start=2):
        word, _, rest = line.rstrip().partition(" ")
        if wanted_set is not None and word not in wanted_set:
            continue
        values = rest.split()
        if len(values) != dim:
            raise DataError("{}: line {} has {} values, expected {}".format(path, number, len(values), dim))
        vectors[word] = np.asarray(values, dtype=np.float32)
    return vectors, count
