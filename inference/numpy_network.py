"""The exported ensemble's forward pass in numpy, with its linear parts folded (Python 3.8).

Serving computes what the network train.py exports computes (training/model.py: TextCNN and
NgramLogistic members in an Ensemble; dropout is off at inference) without MXNet's graph
executor, whose per-operator cost dominated: about 190 operators per call, 1.1 ms for one
headline, and a CNN's n-gram mean over (batch, 640, 32) embeddings. Measured in bench/serving.py.

- A TextCNN's output layer is linear, so its bag-of-words and n-gram means go through it
  first: ``W (sum_i E[i]) / n == (sum_i (E W^T)[i]) / n``. Each word and each bucket then
  carries its 4 class scores instead of a 100- or 32-wide vector (tables made at load).
- A linear member's ``sum_g idf_g W_g / ||idf||`` needs per bucket ``idf_g W_g`` and
  ``idf_g ** 2``. All members' n-gram tables are one array: one gather per request.
- The convolutions of every width are one matrix product of each distinct word in the
  request with all filters' taps (a window's output is the sum of its words' taps), over the
  words the request has: rows are cut to the longest headline plus the widest filter, as
  training cuts its batches (model.py: windows wholly on padding all give one vector).

The same function as the graph, summed in another order: probabilities agree to about 1e-7
(tests/frozen holds the graph's answers). ``load`` returns None for a network it does not know
(the seed baseline, a member kind it has no code for): inference.py then runs the graph.
"""
import re
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

_CONV = re.compile(r"^conv(\d+)_weight$")
TAP_BLOCK = 256  # words whose convolution taps are computed together


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _masked_sums(table: np.ndarray, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per row, the sum of ``table``'s rows for the row's ids (rows laid end to end)."""
    sums = np.zeros((len(offsets) - 1, table.shape[1]), dtype=np.float64)
    filled = offsets[1:] > offsets[:-1]
    if filled.any():  # reduceat gives an empty row its next element, not 0: skip those
        sums[filled] = np.add.reduceat(np.take(table, ids, axis=0), offsets[:-1][filled], axis=0)
    return sums


class _TextCNN:
    """model.TextCNN at inference: word embeddings -> convolutions of several widths with max
    pooling, the mean of the word vectors, the mean of the n-gram vectors -> output layer."""

    def __init__(self, params: Dict[str, np.ndarray], max_len: int, columns: Optional[slice]):
        self.max_len = max_len
        self.embedding = params["embedding0_weight"]  # (vocabulary, dim), float32
        convs = sorted((int(found.group(1)), name) for name, found in
                       ((name, _CONV.match(name)) for name in params) if found)
        weights = [params[name] for _, name in convs]  # (filters, dim, width), in the output layer's order
        filters = weights[0].shape[0]
        # Widest first, so that the filters with a k-th tap are the first ones for every k.
        order = sorted(range(len(weights)), key=lambda number: -weights[number].shape[2])
        widths = [weights[number].shape[2] for number in order]
        self.filter_width = np.repeat(widths, filters)  # per filter column
        self.filter_bias = np.concatenate([params[convs[number][1].replace("_weight", "_bias")] for number in order])
        # Tap k of every filter that has one, k after k: a word's row of the product gives its
        # contribution to each window it sits at offset k of.
        self.taps_matrix = np.concatenate([weights[number][:, :, k].T for k in range(widths[0])
                                           for number in order if widths[order.index(number)] > k], axis=1)
        self.tap_columns = []  # per k: (first column, filters with a k-th tap)
        column = 0
        for k in range(widths[0]):
            count = filters * sum(1 for width in widths if width > k)
            self.tap_columns.append((column, count))
            column += count
        # Each word's taps are computed on first use, a block of words at a time (the same
        # blocks always: an answer does not depend on which request came first); untouched
        # blocks cost no memory (np.zeros maps zero pages).
        self.word_taps = np.zeros((len(self.embedding), column), dtype=np.float32)
        self.filled = np.zeros(len(self.embedding), dtype=bool)
        dense = params["dense0_weight"].astype(np.float64)  # (classes, features)
        pooled = filters * len(weights)
        dim = self.embedding.shape[1]
        self.pooled_weight = np.concatenate([dense[:, number * filters:(number + 1) * filters].T for number in order])
        self.bias = params["dense0_bias"].astype(np.float64)
        self.word_scores = self.embedding.astype(np.float64) @ dense[:, pooled:pooled + dim].T
        self.ngram_columns = columns  # this member's scores in the shared n-gram table
        self.ngram_weight = dense[:, pooled + dim:].T if columns is not None else None
        # A window wholly on padding (model.py's on_padding), per filter.
        padding = self.embedding[0].astype(np.float64) @ self.taps_matrix
        window = self.filter_bias.astype(np.float64)
        for first, count in self.tap_columns:
            window[:count] += padding[first:first + count]
        self.padding_window = np.maximum(window, 0.0)

    def ngram_table(self, ngram_embedding: np.ndarray) -> np.ndarray:
        assert self.ngram_weight is not None
        return ngram_embedding.astype(np.float64) @ self.ngram_weight

    def _taps(self, words: np.ndarray) -> np.ndarray:
        """The taps of ``words`` (rows, positions), position-major: (positions, rows, taps)."""
        if not self.filled[words].all():
            for block in np.unique(words[~self.filled[words]] // TAP_BLOCK):
                rows = slice(block * TAP_BLOCK, (block + 1) * TAP_BLOCK)
                self.word_taps[rows] = self.embedding[rows] @ self.taps_matrix
                self.filled[rows] = True
        return np.take(self.word_taps, words.T, axis=0)

    def logits(self, tokens: np.ndarray, lengths: np.ndarray, ngram_sums: Optional[np.ndarray],
               ngram_counts: np.ndarray) -> np.ndarray:
        widest = int(self.filter_width[0])
        positions = min(self.max_len, max(int(lengths.max()) + widest - 1, widest))
        words = tokens[:, :positions]
        taps = self._taps(words)
        # Window t of every filter: the sum of its taps k at positions t + k, for t in range.
        first, count = self.tap_columns[0]
        total = taps[:, :, first:first + count] + self.filter_bias
        for k, (first, count) in enumerate(self.tap_columns[1:], start=1):
            total[:positions - k, :, :count] += taps[k:, :, first:first + count]
        # ReLU of the windows that fit, then their maximum, taken on the floats' bits: numpy
        # 1.19 (the images') reduces floats 4x slower than integers, and non-negative floats
        # order as their bits do (a negative output becomes -0.0, the smallest int32).
        fits = (np.arange(positions)[:, None] + self.filter_width <= positions)[:, None, :]
        total *= (total > 0) & fits
        best = total.view(np.int32).max(axis=0).view(np.float32).astype(np.float64)
        # Where the full max_len leaves a window wholly on padding, the graph pools it too.
        has_window = lengths[:, None] <= self.max_len - self.filter_width
        out = np.maximum(best, has_window * self.padding_window) @ self.pooled_weight + self.bias
        out += self.word_scores[words].sum(axis=1, where=(words > 0)[:, :, None]) / (lengths + 1e-6)[:, None]
        if self.ngram_columns is not None and ngram_sums is not None:
            out += ngram_sums[:, self.ngram_columns] / (ngram_counts + 1e-6)[:, None]
        return out


class _Linear:
    """model.NgramLogistic: ``sum_g idf_g W_g / (||idf|| + 1e-6) + b`` over the distinct buckets."""

    def __init__(self, params: Dict[str, np.ndarray], columns: slice, norm_column: int):
        self.bias = params["bias"].astype(np.float64)
        self.columns, self.norm_column = columns, norm_column

    @staticmethod
    def ngram_table(params: Dict[str, np.ndarray]) -> np.ndarray:
        idf = params["idf_weight"].astype(np.float64)  # (buckets, 1); 0 for padding
        return np.concatenate([idf * params["ngram_weight"], idf ** 2], axis=1)

    def logits(self, tokens: np.ndarray, lengths: np.ndarray, ngram_sums: Optional[np.ndarray],
               ngram_counts: np.ndarray) -> np.ndarray:
        assert ngram_sums is not None  # a linear member's columns are in the table
        norm = np.sqrt(ngram_sums[:, self.norm_column]) + 1e-6
        return ngram_sums[:, self.columns] / norm[:, None] + self.bias


class Network:
    """The ensemble: members' logits; with several members the log of their probabilities'
    weighted mean, as model.Ensemble outputs it."""

    def __init__(self, members: List[Union["_TextCNN", "_Linear"]], weights: Sequence[float], ngram_table: Optional[np.ndarray]):
        self.members = members
        self.weights = [float(weight) / sum(weights) for weight in weights]
        self.ngram_table = ngram_table

    def logits(self, tokens: np.ndarray, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """The exported network's output for ``Vocabulary.encode_batch``'s arrays."""
        lengths = (tokens > 0).sum(axis=1)
        sums = _masked_sums(self.ngram_table, ids, offsets) if self.ngram_table is not None else None
        counts = np.diff(offsets)
        outputs = [member.logits(tokens, lengths, sums, counts) for member in self.members]
        if len(outputs) == 1:
            return outputs[0]
        mixed = sum(weight * _softmax(output) for weight, output in zip(self.weights, outputs))
        return np.log(mixed + 1e-12)


def load(params: Dict[str, np.ndarray], members: Sequence[str], weights: Sequence[float],
         max_len: int) -> Optional[Network]:
    """The network of ``members`` (``textcnn0``, ``linear2``...: metrics.json's order, the
    exported parameter prefixes) from the exported parameters (names without ``arg:``), or
    None when a member is of a kind this module does not compute."""
    tables: List[np.ndarray] = []  # the members' columns of the shared n-gram table
    built: List[Union[_TextCNN, _Linear]] = []
    for name in members:
        own = {key[len(name) + 1:]: value for key, value in params.items() if key.startswith(name + "_")}
        width = sum(table.shape[1] for table in tables)
        if name.startswith("textcnn") and {"embedding0_weight", "conv0_weight", "dense0_weight"} <= set(own):
            ngrams = own.get("embedding1_weight")
            classes = own["dense0_bias"].shape[0]
            cnn = _TextCNN(own, max_len, slice(width, width + classes) if ngrams is not None else None)
            if ngrams is not None:
                tables.append(cnn.ngram_table(ngrams))
            built.append(cnn)
        elif name.startswith("linear") and {"idf_weight", "ngram_weight", "bias"} <= set(own):
            tables.append(_Linear.ngram_table(own))
            classes = tables[-1].shape[1] - 1
            built.append(_Linear(own, slice(width, width + classes), width + classes))
        else:
            return None
    if not built or len(built) != len(weights):
        return None
    # float32: half the memory a request's gather reads (sums of ~400 of them: 1e-7 apart)
    return Network(built, weights, np.concatenate(tables, axis=1).astype(np.float32) if tables else None)
