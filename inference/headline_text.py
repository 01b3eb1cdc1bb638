"""Text handling shared by training and inference (shipped in the model artifact).

Tokens follow text8's conventions so that headline words meet the word vectors trained on
it: lowercase ASCII letters only, every other character a separator, digits spelled out one
by one ("2014" -> "two zero one four"). Runs on Python 3.8 (the SageMaker MXNet images).

Besides the word indices, a vocabulary may add hashed n-gram features (fastText style): the
words, word bigrams and character n-grams of each word (with ``<`` ``>`` boundary marks),
and optionally the character n-grams of the headline as written (case and punctuation kept),
each hashed with CRC-32 (stable across processes and Python versions) into ``buckets`` - 1
slots (0 is padding). Inference must encode exactly as training did, hence this one module.

Speed (every answer and every training row goes through here): the buckets of a token's own
features are cached, the headline-as-written n-grams are CRC'd for many headlines at once with
numpy (zlib's table, one byte per step), and ASCII text skips Unicode folding.
``tests/frozen`` holds the ids of the code before these shortcuts; they must not change.
"""
import re
import unicodedata
import zlib
from collections import Counter
from itertools import chain
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

PAD = "<pad>"
UNK = "<unk>"
PAD_INDEX = 0
UNK_INDEX = 1

_DIGIT_WORDS = {
    "0": " zero ", "1": " one ", "2": " two ", "3": " three ", "4": " four ",
    "5": " five ", "6": " six ", "7": " seven ", "8": " eight ", "9": " nine ",
}
_DIGITS = re.compile(r"[0-9]")
# The folded text's bytes (ASCII): letters in lowercase, digits as they are, anything else a
# separator; then digits spelled out and the text split: the runs of [a-z] of the text8 rules.
_WORD_BYTES = bytes(byte + 32 if 65 <= byte <= 90 else byte if 97 <= byte <= 122 or 48 <= byte <= 57 else 32
                    for byte in range(256))


def _fold(text: str) -> str:
    """Accents dropped ("é" -> "e"); any other non-ASCII character (a curly apostrophe, a dash,
    a CJK ideogram) becomes a separator, so that "Apple’s" splits like "Apple's"."""
    if text.isascii():  # most headlines; NFKD leaves ASCII as it is
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char if ord(char) < 128 else ("" if unicodedata.combining(char) else " ")
                   for char in decomposed)


def tokenize(text: str) -> List[str]:
    """Lowercase, fold accents to ASCII, spell out digits, split on everything else."""
    words = _fold(text).encode("ascii").translate(_WORD_BYTES).decode("ascii")
    if _DIGITS.search(words):
        words = _DIGITS.sub(lambda match: _DIGIT_WORDS[match.group(0)], words)
    return words.split()


_TEXT_CHAR_CRC = zlib.crc32(b"t:")


def _bucket(feature: str, buckets: int) -> int:
    return 1 + zlib.crc32(feature.encode("utf-8")) % (buckets - 1)


TOKENS_CACHED = 1 << 16
WORD_FAMILIES = ("word", "word_bigram", "char")  # from the text8 tokens (text8-v2)
FAMILIES = WORD_FAMILIES + ("text_char",)  # text_char: from the headline as written


def ngram_features(words: Sequence[str], char_ngrams: Tuple[int, int], families: Sequence[str] = WORD_FAMILIES,
                   text: str = "", text_char_ngrams: Tuple[int, int] = (2, 5)) -> List[str]:
    """Word by word: the word, the bigram it ends, its character n-grams (``"<" + word + ">"``);
    then, with ``text_char``, the character n-grams of the headline as written (case,
    punctuation and digits kept, spaces squeezed and added at both ends), which the text8
    tokens lose: "Q2", "S&P", "iPhone", "Ebola:"."""
    low, high = char_ngrams
    features: List[str] = []
    for position, word in enumerate(words):
        if "word" in families:
            features.append("w:" + word)
        if position and "word_bigram" in families:
            features.append("b:" + words[position - 1] + " " + word)
        if "char" in families:
            marked = "<" + word + ">"
            for size in range(low, high + 1):
                for start in range(len(marked) - size + 1):
                    features.append("c:" + marked[start:start + size])
    if "text_char" in families:
        written = _written(text)
        for size in range(text_char_ngrams[0], text_char_ngrams[1] + 1):
            for start in range(len(written) - size + 1):
                features.append("t:" + written[start:start + size])
    return features


def _written(text: str) -> str:
    """The headline as the ``text_char`` features read it: folded to ASCII, spaces squeezed,
    one space at each end."""
    return " " + " ".join(_fold(text).split()) + " "


# zlib's CRC-32 table: crc32(data + bytes([b])) from crc32(data) in one step, vectorised below.
_CRC_TABLE = np.array([zlib.crc32(bytes([byte]), 0xFFFFFFFF) ^ 0xFFFFFFFF for byte in range(256)], dtype=np.uint32)
_ALL_BITS = np.uint32(0xFFFFFFFF)


def _written_buckets(texts: Sequence[str], low: int, high: int, buckets: int) -> Tuple[np.ndarray, List[int]]:
    """The ``text_char`` buckets of several headlines, each headline's in ``ngram_features``'
    order (by size, then start), headline after headline: (buckets, how many each has).

    The CRC of ``"t:" + piece`` is continued from that of ``"t:"`` one byte per step, for every
    start in the headlines' joined bytes at once; each size's CRCs are those after its step."""
    written = [_written(text).encode("ascii") for text in texts]  # folded: ASCII
    joined = b"".join(written)
    count = len(joined)
    data = np.frombuffer(joined + bytes(high), dtype=np.uint8)
    register = np.full(count, _TEXT_CHAR_CRC ^ 0xFFFFFFFF, dtype=np.uint32)
    by_size = []
    for step in range(high):
        register = _CRC_TABLE[(register ^ data[step:step + count]) & 0xFF] ^ (register >> 8)
        if step + 1 >= low:
            by_size.append(register)
    # Each headline's n-grams: for each size, the starts whose n-gram ends inside it.
    if len(written) == 1:  # a request of one headline: a slice of each size's CRCs
        picked = np.concatenate([crcs[:max(count - size + 1, 0)] for size, crcs in zip(range(low, high + 1), by_size)])
        return (picked ^ _ALL_BITS).astype(np.int64) % (buckets - 1) + 1, [len(picked)]
    crcs = np.stack(by_size)  # (sizes, starts)
    lengths = np.array([len(text) for text in written], dtype=np.int64)
    per_size = np.maximum(lengths[:, None] - np.arange(low, high + 1) + 1, 0).ravel()  # (headline, size)
    first = np.repeat(np.cumsum(per_size) - per_size, per_size)
    starts = np.repeat(np.repeat(np.cumsum(lengths) - lengths, high - low + 1), per_size)
    sizes = np.repeat(np.tile(np.arange(high - low + 1), len(written)), per_size)
    picked = crcs[sizes, starts + np.arange(len(first)) - first] ^ _ALL_BITS
    return picked.astype(np.int64) % (buckets - 1) + 1, per_size.reshape((len(written), -1)).sum(axis=1).tolist()


RADIX_FROM = 4096  # ids: below, one request's, the one comparison sort is quicker


def first_distinct(ids: np.ndarray, counts: np.ndarray, buckets: int, limit: int) -> Tuple[np.ndarray, np.ndarray]:
    """Each row's distinct ids in order of first occurrence, at most ``limit`` of them: for rows
    of ``counts`` ids laid end to end. Returns the kept ids (int32) and their row offsets."""
    rows = len(counts)
    row = np.repeat(np.arange(rows, dtype=np.int64), counts)
    key = row * buckets + ids
    if rows * buckets <= 1 << 32 and len(key) > RADIX_FROM:
        # Two stable sorts of 16-bit halves (numpy sorts those by counting, in linear time),
        # low half first: the order of one stable sort of the key.
        low = np.argsort(key.astype(np.uint16), kind="stable")
        order = low[np.argsort((key >> 16).astype(np.uint16)[low], kind="stable")]
    else:
        order = np.argsort(key, kind="stable")  # equal keys keep their order: the first one leads
    ordered = key[order]
    leads = np.ones(len(key), dtype=bool)
    leads[1:] = ordered[1:] != ordered[:-1]
    kept = np.zeros(len(key), dtype=bool)
    kept[order[leads]] = True  # back in the rows' order
    kept_row = row[kept]
    kept_counts = np.bincount(kept_row, minlength=rows)
    distinct = ids[kept]
    if rows and kept_counts.max() > limit:
        rank = np.arange(len(kept_row)) - np.repeat(np.cumsum(kept_counts) - kept_counts, kept_counts)
        distinct = distinct[rank < limit]
        kept_counts = np.minimum(kept_counts, limit)
    offsets = np.zeros(rows + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(kept_counts)
    return distinct.astype(np.int32), offsets


def _span(values: Sequence[int]) -> Tuple[int, int]:
    low, high = int(values[0]), int(values[-1])
    if not 1 <= low <= high:
        raise ValueError("n-gram lengths need 1 <= min <= max")
    return low, high


class NgramHashing:
    """Settings of the hashed n-gram features; ``encode`` gives ``max_ngrams`` distinct bucket ids."""

    def __init__(self, buckets: int, max_ngrams: int, char_ngrams: Sequence[int] = (2, 5),
                 families: Sequence[str] = WORD_FAMILIES, text_char_ngrams: Sequence[int] = (2, 5)):
        if buckets < 2 or max_ngrams < 1:
            raise ValueError("n-gram hashing needs buckets >= 2 and max_ngrams >= 1")
        unknown = [family for family in families if family not in FAMILIES]
        if unknown or not families:
            raise ValueError("unknown n-gram features {}: use some of {}".format(unknown, ", ".join(FAMILIES)))
        self.buckets = int(buckets)
        self.max_ngrams = int(max_ngrams)
        self.char_ngrams = _span(char_ngrams)
        self.families = tuple(family for family in FAMILIES if family in families)
        self.text_char_ngrams = _span(text_char_ngrams)
        # Per token, computed once (headline words repeat, and serving encodes every request):
        # see _token. Emptied when it grows past TOKENS_CACHED.
        self._tokens: Dict[str, Tuple[bytes, bytes, int, bytes, int]] = {}

    @property
    def reads_written_text(self) -> bool:
        return "text_char" in self.families

    def encode(self, words: Sequence[str], text: str = "") -> List[int]:
        """Distinct bucket ids in order of first occurrence (a binary bag), then padding;
        ``text`` (the headline as written) feeds the ``text_char`` features."""
        ids = self.bags([words], [text])[0].tolist()
        return ids + [PAD_INDEX] * (self.max_ngrams - len(ids))

    def bags(self, rows: Sequence[Sequence[str]], texts: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
        """``encode`` of many headlines (their tokens and their text) without the padding, as
        one array: headline i's ids at ``ids[offsets[i]:offsets[i + 1]]``. Returns (ids, offsets)."""
        hashed, counts, _ = self.features(rows, texts)
        return first_distinct(hashed, counts, self.buckets, self.max_ngrams)

    def _token(self, token: str) -> Tuple[bytes, bytes, int, bytes, int]:
        """A token's own buckets (w:, then c:) as int64 bytes, the same with a slot for the
        bigram it ends (after its w:), how many buckets that is, its bytes, and the CRC of
        "b:" + it + " " (a bigram it starts). Bytes: joining many small pieces is a memcpy each,
        where np.concatenate of as many arrays costs a microsecond apiece."""
        own = tuple(family for family in ("word", "char") if family in self.families)
        modulus = self.buckets - 1
        ids = [1 + zlib.crc32(feature.encode("utf-8")) % modulus  # _bucket, inline: tokens are many
               for feature in ngram_features((token,), self.char_ngrams, own)]
        slot = 1 if "word" in own else 0
        after_bigram = ids[:slot] + [0] + ids[slot:] if "word_bigram" in self.families else ids
        token_bytes = token.encode("utf-8")
        return (np.array(ids, dtype=np.int64).tobytes(), np.array(after_bigram, dtype=np.int64).tobytes(),
                len(after_bigram), token_bytes, zlib.crc32(b"b:" + token_bytes + b" "))

    def features(self, rows: Sequence[Sequence[str]], texts: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, List[int]]:
        """The buckets of ``ngram_features(...)`` of many headlines, in its order, repeats kept,
        headline after headline: (buckets, how many each headline has, how many of those are
        ``text_char`` ones, last)."""
        modulus = self.buckets - 1
        # A token's buckets are one cached piece, with an empty slot for its bigram's bucket
        # (between its w: and its c: ones) when it follows another: the slots are filled at once.
        slot = 1 if "word" in self.families else 0
        bigram = "word_bigram" in self.families
        written: Optional[np.ndarray] = None
        written_counts = [0] * len(rows)
        if "text_char" in self.families:
            written, written_counts = _written_buckets(texts, *self.text_char_ngrams, self.buckets)
            written_bytes = written.tobytes()
        cache = self._tokens
        if len(cache) > TOKENS_CACHED:
            cache.clear()
        pieces: List[bytes] = []
        bigrams: List[int] = []
        bigram_at: List[int] = []  # the slots, in the pieces joined
        counts = []
        total = 0  # buckets in the pieces so far
        start = 0  # of the row's text_char buckets
        for row, words in enumerate(rows):
            before, previous = total, None  # type: Tuple[int, Optional[int]]
            for token in words:
                cached = cache.get(token)
                if cached is None:
                    cached = cache[token] = self._token(token)
                piece, after_bigram, size, token_bytes, bigram_prefix = cached
                if bigram and previous is not None:
                    bigram_at.append(total + slot)
                    bigrams.append(zlib.crc32(token_bytes, previous))
                    piece = after_bigram
                else:
                    size -= bigram
                pieces.append(piece)
                total += size
                previous = bigram_prefix
            if written is not None:
                pieces.append(written_bytes[8 * start:8 * (start + written_counts[row])])
                total += written_counts[row]
                start += written_counts[row]
            counts.append(total - before)
        hashed = np.frombuffer(b"".join(pieces), dtype=np.int64).copy()
        hashed[bigram_at] = np.array(bigrams, dtype=np.int64) % modulus + 1
        return hashed, np.array(counts, dtype=np.int64), written_counts

    def to_json(self) -> Dict[str, object]:
        data = {"hash": "crc32", "buckets": self.buckets, "max_ngrams": self.max_ngrams,
                "char_ngrams": list(self.char_ngrams), "features": list(self.families)}  # type: Dict[str, object]
        if self.reads_written_text:
            data["text_char_ngrams"] = list(self.text_char_ngrams)
        return data

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "NgramHashing":
        if data.get("hash") != "crc32":
            raise ValueError("vocab.json: unknown n-gram hash {}".format(data.get("hash")))
        return cls(int(data["buckets"]), int(data["max_ngrams"]), data["char_ngrams"],
                   list(data.get("features", WORD_FAMILIES)),
                   data.get("text_char_ngrams", (2, 5)))


class Vocabulary:
    """Token <-> index mapping plus the settings inference needs to encode raw text.

    ``encode`` gives ``width`` numbers: ``max_len`` word indices, then, with n-gram hashing,
    ``max_ngrams`` bucket ids (the network splits them again).
    """

    def __init__(self, tokens: Sequence[str], max_len: int, ngrams: Optional[NgramHashing] = None):
        if list(tokens[:2]) != [PAD, UNK]:
            raise ValueError("a vocabulary starts with the padding and unknown tokens")
        self.tokens = list(tokens)
        self.index = {token: position for position, token in enumerate(self.tokens)}
        self.max_len = max_len
        self.ngrams = ngrams

    @property
    def width(self) -> int:
        return self.max_len + (self.ngrams.max_ngrams if self.ngrams else 0)

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, texts: Iterable[str], max_len: int, min_count: int = 1,
              keep: Optional[Iterable[str]] = None, ngrams: Optional[NgramHashing] = None) -> "Vocabulary":
        """Words seen at least ``min_count`` times, plus any word in ``keep`` (e.g. words
        with a pretrained vector), in a deterministic order (frequency, then alphabet)."""
        counts = Counter(token for text in texts for token in tokenize(text))
        keep_set = set(keep or ())
        chosen = [word for word, count in counts.items() if count >= min_count or word in keep_set]
        chosen.sort(key=lambda word: (-counts[word], word))
        return cls([PAD, UNK] + chosen, max_len, ngrams)

    def encode(self, text: str) -> List[int]:
        """Token indices cut or padded to ``max_len`` (padding after the words), then the
        hashed n-gram ids when the vocabulary has them."""
        words = tokenize(text)
        ids = self.encode_words(words)
        if self.ngrams is not None:
            ids += self.ngrams.encode(words, text)
        return ids

    def encode_words(self, words: Sequence[str]) -> List[int]:
        """The word indices of ``tokenize``'s tokens, cut or padded to ``max_len``."""
        ids = [self.index.get(token, UNK_INDEX) for token in words[: self.max_len]]
        return ids + [PAD_INDEX] * (self.max_len - len(ids))

    def encode_batch(self, texts: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``encode`` of many headlines, as arrays: the word indices (n, ``max_len``) int32, and
        the n-gram ids without their padding, headline i's at ``ids[offsets[i]:offsets[i + 1]]``
        (int32 ids, int64 offsets; no ids without n-gram hashing)."""
        rows = [tokenize(text) for text in texts]
        tokens = np.fromiter(chain.from_iterable(self.encode_words(words) for words in rows), dtype=np.int32,
                             count=len(rows) * self.max_len)
        if self.ngrams is not None:
            ids, offsets = self.ngrams.bags(rows, texts)
        else:
            ids, offsets = np.zeros(0, dtype=np.int32), np.zeros(len(rows) + 1, dtype=np.int64)
        return tokens.reshape((len(rows), self.max_len)), ids, offsets

    def to_json(self) -> Dict[str, object]:
        """``text8-v1`` without n-grams, ``text8-v2`` with n-grams of the tokens only (both
        readable by older inference code), ``text8-v3`` when n-grams also read the written text
        (older code, which would encode it differently, refuses it)."""
        version = "text8-v1"
        if self.ngrams is not None:
            version = "text8-v3" if self.ngrams.reads_written_text else "text8-v2"
        data = {
            "tokenizer": version,
            "lowercase": True,
            "digits": "spelled",
            "max_len": self.max_len,
            "pad_index": PAD_INDEX,
            "unk_index": UNK_INDEX,
            "tokens": self.tokens,
        }  # type: Dict[str, object]
        if self.ngrams is not None:
            data["ngrams"] = self.ngrams.to_json()
        return data

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Vocabulary":
        tokenizer = data.get("tokenizer")
        if tokenizer not in ("text8-v1", "text8-v2", "text8-v3"):
            raise ValueError("vocab.json was written by an unknown tokenizer: {}".format(tokenizer))
        ngrams = None
        if tokenizer != "text8-v1":
            ngrams = NgramHashing.from_json(data["ngrams"])
        return cls(list(data["tokens"]), int(data["max_len"]), ngrams)
