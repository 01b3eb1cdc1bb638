"""The exported ensemble's forward pass in numpy, with its linear parts folded (Python 3.8).

Serving computes what the network train.py exports computes (training/model.py: TextCNN and
NgramLogistic members in an Ensemble; dropout is off at inference) without MXNet's graph
executor, whose per-operator cost dominated: about 190 operators per call, 1.1 ms for one
headline, and a CNN's n-gram mean over (batch, 640, 32) embeddings. Measured in bench/serving.py.

- A TextCNN's output layer is linear, so its bag-of-words and n-gram means go through it
  first: ``W (sum_i E[i]) / n == (sum_i (E W^T)[i]) / n``. Each word and each bucket then
  carries its class scores instead of a 100- or 32-wide vector (tables made at load).
- A linear member's ``sum_g idf_g W_g / ||idf||`` needs per bucket ``idf_g W_g`` and
  ``idf_g ** 2``. All members' n-gram tables are one array: one gather per request.
- A window's convolution output is the sum of its words' taps (each word's product with
  each filter's k-th slice, computed once per word), over the windows the request has: rows
  are cut to the longest headline plus the widest filter, as training cuts its batches
  (model.py: windows wholly on padding all give one vector).
- The CNN members share their shapes (one set of hyperparameters), so they are computed
  together, as are the linear members: the operations per request do not grow with members.

The same function as the graph, summed in another order: probabilities agree to about 1e-7
(tests/frozen holds the graph's answers). ``load`` returns None for a network it does not know
(the seed baseline, a member kind it has no code for, members of different shapes):
inference.py then runs the graph.
"""
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

_CONV = re.compile(r"^conv(\d+)_weight$")
TAP_BLOCK = 256  # words whose convolution taps are computed together


def _ngram_sums(table: np.ndarray, ids: np.ndarray, offsets: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per row, the sum of ``table``'s rows for the row's ids (rows laid end to end)."""
    filled = counts > 0
    if filled.all():
        return np.add.reduceat(np.take(table, ids, axis=0), offsets[:-1], axis=0).astype(np.float64)
    sums = np.zeros((len(offsets) - 1, table.shape[1]), dtype=np.float64)
    if filled.any():  # reduceat gives an empty row its next element, not 0: skip those
        sums[filled] = np.add.reduceat(np.take(table, ids, axis=0), offsets[:-1][filled], axis=0)
    return sums


def _convolutions(params: Dict[str, np.ndarray]) -> List[Tuple[np.ndarray, np.ndarray]]:
    """A TextCNN's convolutions, (filters (filters, dim, width), biases), in its output layer's order."""
    numbered = sorted((int(found.group(1)), name) for name, found in
                      ((name, _CONV.match(name)) for name in params) if found)
    return [(params[name], params[name.replace("_weight", "_bias")]) for _, name in numbered]


class _TextCNNs:
    """model.TextCNN members at inference: word embeddings -> convolutions of several widths
    with max pooling, the mean of the word vectors, the mean of the n-gram vectors -> output
    layer. Their filters side by side, widest first (the filters with a k-th tap are then the
    first ones, for every k); a word's taps, k after k: its product with those slices."""

    def __init__(self, members: List[Dict[str, np.ndarray]], max_len: int):
        self.max_len = max_len
        self.embeddings = [member["embedding0_weight"] for member in members]  # (vocabulary, dim) float32
        convolutions = [_convolutions(member) for member in members]
        filters = convolutions[0][0][0].shape[0]
        # (width, member, convolution): every filter block, widest first.
        blocks = sorted(((weight.shape[2], member, number) for member, convolution in enumerate(convolutions)
                         for number, (weight, _) in enumerate(convolution)), key=lambda block: -block[0])
        self.widest = blocks[0][0]
        self.filter_width = np.repeat([width for width, _, _ in blocks], filters)
        self.filter_bias = np.concatenate([convolutions[member][number][1] for _, member, number in blocks])
        # Per member, its taps' columns of the word taps: tap k of every filter that has one.
        self.tap_columns = []  # per k: (first column, filters that have a k-th tap)
        self.taps = [np.zeros((self.embeddings[member].shape[1], 0), dtype=np.float32) for member in range(len(members))]
        column = 0
        for k in range(self.widest):
            having = [block for block in blocks if block[0] > k]
            self.tap_columns.append((column, filters * len(having)))
            for member in range(len(members)):
                own = [np.zeros((self.embeddings[member].shape[1], filters), dtype=np.float32) if block[1] != member
                       else convolutions[member][block[2]][0][:, :, k].T for block in having]
                self.taps[member] = np.concatenate([self.taps[member]] + own, axis=1)
            column += filters * len(having)
        # Each word's taps are computed on first use, a block of words at a time (the same
        # blocks always: an answer does not depend on which request came first); untouched
        # blocks cost no memory (np.zeros maps zero pages).
        words = len(self.embeddings[0])
        self.word_taps = np.zeros((words, column), dtype=np.float32)
        self.filled = np.zeros(words, dtype=bool)
        # The output layers: pooled features -> every member's classes (zeros off its own).
        dense = [member["dense0_weight"].astype(np.float64) for member in members]  # (classes, features)
        classes = dense[0].shape[0]
        pooled = filters * len(convolutions[0])
        self.pooled_weight = np.zeros((len(blocks) * filters, len(members) * classes))
        for position, (_, member, number) in enumerate(blocks):
            self.pooled_weight[position * filters:(position + 1) * filters, member * classes:(member + 1) * classes] = \
                dense[member][:, number * filters:(number + 1) * filters].T
        self.bias = np.concatenate([member["dense0_bias"].astype(np.float64) for member in members])
        self.word_scores = np.concatenate([embedding.astype(np.float64) @ weight[:, pooled:pooled + embedding.shape[1]].T
                                           for embedding, weight in zip(self.embeddings, dense)], axis=1)
        self.word_scores[0] = 0.0  # padding: the mean of the word vectors leaves it out
        self.ngram_weights = [weight[:, pooled + embedding.shape[1]:].T for embedding, weight in zip(self.embeddings, dense)]
        self.classes = classes
        # A window wholly on padding (model.py's on_padding), per filter.
        window = self.filter_bias.astype(np.float64)
        for member, taps in enumerate(self.taps):
            padding = self.embeddings[member][0].astype(np.float64) @ taps
            for first, count in self.tap_columns:
                window[:count] += padding[first:first + count]
        self.padding_window = np.maximum(window, 0.0)
        self.fits: Dict[int, np.ndarray] = {}  # per number of positions: the windows that fit
        self.last_start = max_len - self.filter_width  # of a filter's window, in max_len positions

    def ngram_table(self, members: List[Dict[str, np.ndarray]]) -> Optional[np.ndarray]:
        """The members' n-gram means' class scores per bucket, or None without n-grams."""
        if any("embedding1_weight" not in member for member in members):
            return None
        return np.concatenate([member["embedding1_weight"].astype(np.float64) @ weight
                               for member, weight in zip(members, self.ngram_weights)], axis=1)

    def _word_taps(self, words: np.ndarray) -> np.ndarray:
        """The taps of ``words`` (rows, positions), position-major: (positions, rows, taps)."""
        if not self.filled[words].all():
            for block in np.unique(words[~self.filled[words]] // TAP_BLOCK):
                rows = slice(block * TAP_BLOCK, (block + 1) * TAP_BLOCK)
                self.word_taps[rows] = sum(embedding[rows] @ taps for embedding, taps in zip(self.embeddings, self.taps))
                self.filled[rows] = True
        return np.take(self.word_taps, words.T, axis=0)

    def logits(self, tokens: np.ndarray, lengths: np.ndarray, ngram_means: Optional[np.ndarray]) -> np.ndarray:
        """Every member's output, side by side: (rows, members * classes)."""
        positions = min(self.max_len, max(int(lengths.max()) + self.widest - 1, self.widest))
        words = tokens[:, :positions]
        taps = self._word_taps(words)
        # Window t of every filter: the sum of its taps k at positions t + k, for t in range.
        first, count = self.tap_columns[0]
        total = taps[:, :, first:first + count] + self.filter_bias
        for k, (first, count) in enumerate(self.tap_columns[1:], start=1):
            total[:positions - k, :, :count] += taps[k:, :, first:first + count]
        # ReLU of the windows that fit, then their maximum, taken on the floats' bits: numpy
        # 1.19 (the images') reduces floats 4x slower than integers, and non-negative floats
        # order as their bits do (a negative output becomes -0.0, the smallest int32).
        fits = self.fits.get(positions)
        if fits is None:
            fits = self.fits[positions] = (np.arange(positions)[:, None] + self.filter_width <= positions)[:, None, :]
        total *= (total > 0) & fits
        best = total.view(np.int32).max(axis=0).view(np.float32).astype(np.float64)
        # Where the full max_len leaves a window wholly on padding, the graph pools it too.
        has_window = lengths[:, None] <= self.last_start
        out = np.maximum(best, has_window * self.padding_window) @ self.pooled_weight + self.bias
        out += np.take(self.word_scores, words, axis=0).sum(axis=1) / (lengths + 1e-6)[:, None]
        if ngram_means is not None:
            out += ngram_means
        return out


class _Linears:
    """model.NgramLogistic members: ``sum_g idf_g W_g / (||idf|| + 1e-6) + b`` over the distinct
    buckets, from the shared table's ``idf * W`` columns (``scores``) and ``idf ** 2`` ones (``norms``)."""

    def __init__(self, members: List[Dict[str, np.ndarray]], first: int):
        self.bias = np.stack([member["bias"].astype(np.float64) for member in members])  # (members, classes)
        self.scores = slice(first, first + self.bias.size)
        self.norms = slice(self.scores.stop, self.scores.stop + len(members))

    @staticmethod
    def ngram_table(members: List[Dict[str, np.ndarray]]) -> np.ndarray:
        idf = [member["idf_weight"].astype(np.float64) for member in members]  # (buckets, 1); 0 for padding
        return np.concatenate([value * member["ngram_weight"] for value, member in zip(idf, members)]
                              + [value ** 2 for value in idf], axis=1)

    def logits(self, sums: np.ndarray) -> np.ndarray:
        """Every member's output: (rows, members, classes)."""
        norm = np.sqrt(sums[:, self.norms]) + 1e-6
        return sums[:, self.scores].reshape((len(sums),) + self.bias.shape) / norm[:, :, None] + self.bias


def softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    exponentials = np.exp(logits - logits.max(axis=-1, keepdims=True))  # numerically stable
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


class Network:
    """The ensemble: its class probabilities. model.Ensemble outputs, with one member, its
    logits, with several the log of their probabilities' weighted mean (+ 1e-12), which
    inference turns into probabilities with a softmax: here the same numbers directly."""

    def __init__(self, cnns: Optional[_TextCNNs], cnn_ngrams: Optional[slice], linear: Optional["_Linears"],
                 order: np.ndarray, weights: Sequence[float], ngram_table: Optional[np.ndarray]):
        self.cnns, self.cnn_ngrams, self.linear = cnns, cnn_ngrams, linear
        self.order = order  # members' outputs as computed (CNNs, then linear ones) -> metrics.json's order
        self.weights = np.array([float(weight) / sum(weights) for weight in weights])[:, None]
        self.ngram_table = ngram_table

    def probabilities(self, tokens: np.ndarray, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Class probabilities (float64) for ``Vocabulary.encode_batch``'s arrays."""
        rows = len(tokens)
        counts = offsets[1:] - offsets[:-1]
        sums = _ngram_sums(self.ngram_table, ids, offsets, counts) if self.ngram_table is not None else None
        outputs = []
        if self.cnns is not None:
            lengths = (tokens > 0).sum(axis=1)
            means = None
            if sums is not None and self.cnn_ngrams is not None:
                means = sums[:, self.cnn_ngrams] / (counts + 1e-6)[:, None]
            outputs.append(self.cnns.logits(tokens, lengths, means).reshape((rows, -1, self.cnns.classes)))
        if self.linear is not None and sums is not None:
            outputs.append(self.linear.logits(sums))
        members = np.concatenate(outputs, axis=1)[:, self.order]  # (rows, members, classes)
        if members.shape[1] == 1:
            return softmax(members[:, 0])
        mixed = (softmax(members) * self.weights).sum(axis=1) + 1e-12
        return mixed / mixed.sum(axis=1, keepdims=True)


def load(params: Dict[str, np.ndarray], members: Sequence[str], weights: Sequence[float],
         max_len: int) -> Optional[Network]:
    """The network of ``members`` (``textcnn0``, ``linear2``...: metrics.json's order, the
    exported parameter prefixes) from the exported parameters (names without ``arg:``), or
    None when it has a member this module does not compute."""
    cnns: List[Dict[str, np.ndarray]] = []
    linears: List[Dict[str, np.ndarray]] = []
    kinds = []
    for name in members:
        own = {key[len(name) + 1:]: value for key, value in params.items() if key.startswith(name + "_")}
        if name.startswith("textcnn") and {"embedding0_weight", "conv0_weight", "dense0_weight"} <= set(own):
            cnns.append(own)
            kinds.append("cnn")
        elif name.startswith("linear") and {"idf_weight", "ngram_weight", "bias"} <= set(own):
            linears.append(own)
            kinds.append("linear")
        else:
            return None
    if not kinds or len(kinds) != len(weights) or not _same_shapes(cnns):
        return None
    tables: List[np.ndarray] = []  # the shared n-gram table: CNNs' class scores, linear scores, linear idf**2
    computed = None
    cnn_ngrams = None
    if cnns:
        computed = _TextCNNs(cnns, max_len)
        table = computed.ngram_table(cnns)
        if table is not None:
            tables.append(table)
            cnn_ngrams = slice(0, table.shape[1])
    linear = None
    if linears:
        linear = _Linears(linears, sum(table.shape[1] for table in tables))
        tables.append(_Linears.ngram_table(linears))
    # Outputs come CNNs first, then linear members: back to the members' order.
    computed_order = [number for number, kind in enumerate(kinds) if kind == "cnn"] + \
                     [number for number, kind in enumerate(kinds) if kind == "linear"]
    order = np.argsort(computed_order)
    # float32: half the memory a request's gather reads (sums of ~400 of them: 1e-7 apart)
    table = np.concatenate(tables, axis=1).astype(np.float32) if tables else None
    return Network(computed, cnn_ngrams, linear, order, weights, table)


def _same_shapes(cnns: List[Dict[str, np.ndarray]]) -> bool:
    """CNN members computed together: the same filters, the same output layer's shape."""
    shapes = [([weight.shape for weight, _ in _convolutions(member)], member["dense0_weight"].shape,
               member["embedding0_weight"].shape[0], "embedding1_weight" in member) for member in cnns]
    return all(shape == shapes[0] for shape in shapes) and all(shape[0] for shape in shapes)
