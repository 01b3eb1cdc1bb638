"""Encoded headlines in compact arrays, and the batches the networks train on (Python 3.8).

Memory: the model's input is ``max_len`` word indices plus ``max_ngrams`` (640) bucket ids
per headline, most of them padding (a headline has about 380 distinct n-grams). Rows are
encoded chunk by chunk into int32 arrays, the n-gram ids without their padding (one flat
array plus offsets, as a CSR matrix stores them): at the full dataset's 423k rows that is
about 0.7 GB instead of the 5 GB of a float list-of-lists.

Speed: a training batch is cut to what its rows need: the word part to the batch's longest
headline (plus the widest filter less one, so every window that starts on a word exists),
the n-gram part to its largest bag. The networks are exactly invariant to trailing padding
(masked means; a zero idf for padding; the CNN takes the all-padding window's vector where the
full ``max_len`` has one), so this changes no result, only the cost; CNN batches are also
length-bucketed (``batch_order``), so that there is little to cut away.
"""
from itertools import chain
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from headline_text import PAD_INDEX, NgramHashing, Vocabulary, first_distinct, tokenize

#: Rows encoded per chunk (the Python lists of one chunk are all that exists at once). A chunk's
#: arrays stay a few MB: at 8,192 rows, tens of MB each were page-faulted in anew per chunk
#: (training's encoding 1.4x slower; docs/benchmarks.md, fast answers).
CHUNK_ROWS = 1024


class Encoded(NamedTuple):
    """Encoded headlines: ``tokens`` (n, max_len) word indices; the n-gram bucket ids of row i
    are ``ngram_ids[ngram_offsets[i]:ngram_offsets[i + 1]]``; ``labels`` class numbers."""
    tokens: np.ndarray
    ngram_ids: np.ndarray
    ngram_offsets: np.ndarray
    labels: np.ndarray
    max_ngrams: int
    token_lengths: np.ndarray  # words per row (at most max_len)
    ngram_counts: np.ndarray  # n-gram ids per row

    def __len__(self) -> int:
        return len(self.labels)


def _encoded(tokens: np.ndarray, ngram_ids: np.ndarray, offsets: np.ndarray, labels: np.ndarray,
             max_ngrams: int) -> Encoded:
    return Encoded(tokens, ngram_ids, offsets, labels, max_ngrams, (tokens != PAD_INDEX).sum(axis=1),
                   np.diff(offsets))


def view_hashers(vocab: Vocabulary, views: Sequence[Sequence[str]]) -> Optional[List[NgramHashing]]:
    """One hashing per view when the views, in order, are exactly the vocabulary's families in
    order (the default): the bag is then the de-duplicated concatenation of the views' bags, so
    one pass yields both. ``None`` otherwise."""
    ngrams = vocab.ngrams
    if ngrams is None or not views or tuple(chain.from_iterable(views)) != ngrams.families:
        return None
    return [NgramHashing(ngrams.buckets, ngrams.max_ngrams, ngrams.char_ngrams, view, ngrams.text_char_ngrams)
            for view in views]


def _view_features(ngrams: NgramHashing, views: List[NgramHashing], rows: List[List[str]],
                   texts: Sequence[str]) -> Tuple[List[Tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """Each view's features, repeats kept ((ids, counts per row) each), and the views' features
    one view after the other (ids, counts), the vocabulary's order as the views split it."""
    if len(views) == 1 or (len(views) == 2 and views[1].families == ("text_char",)):
        # The token families, then the written text: each view is a span of every row's
        # features in one pass of the vocabulary's hashing.
        ids, counts, written = ngrams.features(rows, texts)
        if len(views) == 1:
            return [(ids, counts)], ids, counts
        written_counts = np.array(written, dtype=np.int64)
        # Each row: its token features, then its written text's (one repeat of a bool pattern).
        in_text = np.repeat(np.tile(np.array([False, True]), len(counts)),
                            np.stack([counts - written_counts, written_counts], axis=1).ravel())
        return [(ids[~in_text], counts - written_counts), (ids[in_text], written_counts)], ids, counts
    parts = [hashing.features(rows, texts)[:2] for hashing in views]
    part_counts = np.stack([counts for _, counts in parts])  # (views, rows)
    totals = part_counts.sum(axis=0)
    joined = np.empty(int(totals.sum()), dtype=np.int64)
    before = np.cumsum(totals) - totals  # where each row starts
    for ids, counts in parts:
        within = np.arange(len(ids)) - np.repeat(np.cumsum(counts) - counts, counts)
        joined[np.repeat(before, counts) + within] = ids
        before = before + counts
    return parts, joined, totals


def _mark(marks: np.ndarray, ids: np.ndarray, counts: np.ndarray, ngrams: NgramHashing) -> None:
    """``marks`` set at each row's first ``max_ngrams`` distinct ids (of a view)."""
    over = counts > ngrams.max_ngrams  # rows whose cut may leave some of their ids out
    in_over = np.repeat(over, counts)
    marks[ids[~in_over]] = True
    if over.any():
        marks[first_distinct(ids[in_over], counts[over], ngrams.buckets, ngrams.max_ngrams)[0]] = True


def encode(texts: Sequence[str], labels: Sequence[int], vocab: Vocabulary,
           views: Optional[List[NgramHashing]] = None) -> Tuple[Encoded, List[np.ndarray]]:
    """Encodes ``texts`` as ``vocab.encode`` does, chunk by chunk. With ``views`` (from
    ``view_hashers``), also which buckets each view's n-grams fall into (one boolean array per
    view); otherwise that list is empty."""
    n = len(texts)
    max_ngrams = vocab.ngrams.max_ngrams if vocab.ngrams else 0
    tokens = np.zeros((n, vocab.max_len), dtype=np.int32)
    offsets = np.zeros(n + 1, dtype=np.int64)
    pieces: List[np.ndarray] = []
    seen = [np.zeros(vocab.ngrams.buckets, dtype=bool) for _ in views] if views and vocab.ngrams else []
    for start in range(0, n, CHUNK_ROWS):
        chunk = texts[start:start + CHUNK_ROWS]
        stop = start + len(chunk)
        if seen:
            rows = [tokenize(text) for text in chunk]
            tokens[start:stop] = np.fromiter(chain.from_iterable(vocab.encode_words(words) for words in rows),
                                             dtype=np.int32, count=len(rows) * vocab.max_len).reshape((-1, vocab.max_len))
            # A view's buckets are those of its bag (its first max_ngrams distinct ids); the
            # vocabulary's bag, the first distinct ids of the views' features one view after the
            # other (as the views' bags joined and cut: the same ids).
            parts, joined, joined_counts = _view_features(vocab.ngrams, views, rows, chunk)  # type: ignore[arg-type]
            for marks, (ids, counts) in zip(seen, parts):
                _mark(marks, ids, counts, vocab.ngrams)  # type: ignore[arg-type]
            ids, chunk_offsets = first_distinct(joined, joined_counts, vocab.ngrams.buckets,  # type: ignore[union-attr]
                                                max_ngrams)
            counts = np.diff(chunk_offsets)
        else:
            tokens[start:stop], ids, chunk_offsets = vocab.encode_batch(chunk)
            counts = np.diff(chunk_offsets)
        offsets[start + 1:stop + 1] = offsets[start] + np.cumsum(counts)
        pieces.append(ids)
    ngram_ids = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    return _encoded(tokens, ngram_ids, offsets, np.asarray(labels, dtype=np.float32), max_ngrams), seen


def concatenate(first: Encoded, second: Encoded) -> Encoded:
    return _encoded(np.concatenate([first.tokens, second.tokens]),
                    np.concatenate([first.ngram_ids, second.ngram_ids]),
                    np.concatenate([first.ngram_offsets[:-1], second.ngram_offsets + first.ngram_offsets[-1]]),
                    np.concatenate([first.labels, second.labels]), first.max_ngrams)


def take(encoded: Encoded, rows: np.ndarray) -> Encoded:
    """The encoded rows ``rows``, in that order."""
    starts, counts = encoded.ngram_offsets[rows], encoded.ngram_counts[rows]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    positions = np.repeat(starts - offsets[:-1], counts) + np.arange(int(offsets[-1]))
    return _encoded(encoded.tokens[rows], encoded.ngram_ids[positions], offsets, encoded.labels[rows],
                    encoded.max_ngrams)


def _length_key(encoded: Encoded) -> np.ndarray:
    """Words first, then n-grams: both widths of a cut batch follow this order."""
    return encoded.token_lengths.astype(np.int64) * (encoded.max_ngrams + 1) + encoded.ngram_counts


def scoring_order(encoded: Encoded) -> np.ndarray:
    """All rows, shortest first: scored in this order, cut batches carry little padding (the
    results do not depend on the order; the caller puts them back)."""
    return np.argsort(_length_key(encoded), kind="stable")


def _ngram_matrix(encoded: Encoded, rows: np.ndarray, width: int) -> np.ndarray:
    """The n-gram ids of ``rows``, padded to ``width`` (one fancy-indexed copy, no Python loop)."""
    matrix = np.zeros((len(rows), width), dtype=np.float32)
    starts = encoded.ngram_offsets[rows]
    counts = np.minimum(encoded.ngram_offsets[rows + 1] - starts, width)
    row_of = np.repeat(np.arange(len(rows)), counts)
    column = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    matrix[row_of, column] = encoded.ngram_ids[np.repeat(starts, counts) + column]
    return matrix


def full_width(encoded: Encoded, rows: np.ndarray) -> np.ndarray:
    """Rows as the exported model reads them: ``max_len`` word indices, ``max_ngrams`` ids."""
    tokens = encoded.tokens[rows].astype(np.float32)
    if not encoded.max_ngrams:
        return tokens
    return np.concatenate([tokens, _ngram_matrix(encoded, rows, encoded.max_ngrams)], axis=1)


def trimmed(encoded: Encoded, rows: np.ndarray, widest_filter: int) -> Tuple[np.ndarray, np.ndarray]:
    """(word indices, n-gram ids) of ``rows``, each cut to what these rows need. The word part
    keeps ``widest_filter - 1`` padding positions after the longest headline."""
    max_len = encoded.tokens.shape[1]
    longest = int(encoded.token_lengths[rows].max()) if len(rows) else 0
    words = min(max_len, max(longest + widest_filter - 1, widest_filter))
    tokens = encoded.tokens[rows, :words].astype(np.float32)
    largest = int(encoded.ngram_counts[rows].max()) if len(rows) else 0
    return tokens, _ngram_matrix(encoded, rows, max(largest, 1))


def batch_order(encoded: Encoded, batch_size: int, rng: np.random.RandomState,
                sort_run: int = 0) -> Iterator[np.ndarray]:
    """Row numbers of each batch of one epoch: consecutive slices of a permutation. With
    ``sort_run`` > 0 (length buckets, as torchtext's BucketIterator makes them), each run of
    ``sort_run`` batches of that permutation is sorted by length before it is cut, and the
    epoch's batches are shuffled: a batch then holds headlines of about one length, so its cut
    inputs carry little padding (a CNN step costs what its longest headline and largest bag
    need). Measured: a CNN epoch 1.2x cheaper per CPU-second (29,973 rows, batches of 256);
    on the sample's three story splits the same quality within the noise (README, quality
    benchmark). Hand-written: a dozen lines of numpy, and MXNet 1.9's BucketSentenceIter
    pads every bucket to a fixed length, which the cut batches avoid."""
    order = rng.permutation(len(encoded))
    if sort_run <= 0:
        for start in range(0, len(order), batch_size):
            yield order[start:start + batch_size]
        return
    run = batch_size * sort_run
    lengths = _length_key(encoded)
    cut: List[np.ndarray] = []
    for start in range(0, len(order), run):
        part = order[start:start + run]
        part = part[np.argsort(lengths[part], kind="stable")]
        cut.extend(part[offset:offset + batch_size] for offset in range(0, len(part), batch_size))
    for number in rng.permutation(len(cut)):
        yield cut[number]
