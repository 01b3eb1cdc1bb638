"""Text handling shared by training and inference (shipped in the model artifact).

Tokens follow text8's conventions so that headline words meet the word vectors trained on
it: lowercase ASCII letters only, every other character a separator, digits spelled out one
by one ("2014" -> "two zero one four"). Runs on Python 3.8 (the SageMaker MXNet images).

Besides the word indices, a vocabulary may add hashed n-gram features (fastText style): the
words, word bigrams and character n-grams of each word (with ``<`` ``>`` boundary marks),
and optionally the character n-grams of the headline as written (case and punctuation kept),
each hashed with CRC-32 (stable across processes and Python versions) into ``buckets`` - 1
slots (0 is padding). Inference must encode exactly as training did, hence this one module.
"""
import re
import unicodedata
import zlib
from collections import Counter
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

PAD = "<pad>"
UNK = "<unk>"
PAD_INDEX = 0
UNK_INDEX = 1

_DIGIT_WORDS = {
    "0": " zero ", "1": " one ", "2": " two ", "3": " three ", "4": " four ",
    "5": " five ", "6": " six ", "7": " seven ", "8": " eight ", "9": " nine ",
}
_DIGITS = re.compile(r"[0-9]")
_WORD = re.compile(r"[a-z]+")


def _fold(text: str) -> str:
    """Accents dropped ("é" -> "e"); any other non-ASCII character (a curly apostrophe, a dash,
    a CJK ideogram) becomes a separator, so that "Apple’s" splits like "Apple's"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char if ord(char) < 128 else ("" if unicodedata.combining(char) else " ")
                   for char in decomposed)


def tokenize(text: str) -> List[str]:
    """Lowercase, fold accents to ASCII, spell out digits, split on everything else."""
    folded = _fold(text)
    spelled = _DIGITS.sub(lambda match: _DIGIT_WORDS[match.group(0)], folded.lower())
    return _WORD.findall(spelled)


_TEXT_CHAR_CRC = zlib.crc32(b"t:")


def _bucket(feature: str, buckets: int) -> int:
    return 1 + zlib.crc32(feature.encode("utf-8")) % (buckets - 1)


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


@lru_cache(maxsize=1 << 16)
def _token_buckets(word: str, buckets: int, low: int, high: int) -> Tuple[int, Tuple[int, ...]]:
    """The buckets of a token's ``w:`` feature and of its ``c:`` features, cached: headline
    words repeat, and serving encodes every request."""
    word_feature, *char_features = ngram_features((word,), (low, high), ("word", "char"))
    return _bucket(word_feature, buckets), tuple(_bucket(feature, buckets) for feature in char_features)


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

    @property
    def reads_written_text(self) -> bool:
        return "text_char" in self.families

    def encode(self, words: Sequence[str], text: str = "") -> List[int]:
        """Distinct bucket ids in order of first occurrence (a binary bag), then padding;
        ``text`` (the headline as written) feeds the ``text_char`` features."""
        # The buckets of ngram_features(...), in its order, with the per-token part cached.
        families, buckets = self.families, self.buckets
        hashed: List[int] = []
        for position, word in enumerate(words):
            word_bucket, char_buckets = _token_buckets(word, buckets, *self.char_ngrams)
            if "word" in families:
                hashed.append(word_bucket)
            if position and "word_bigram" in families:
                hashed.append(_bucket("b:" + words[position - 1] + " " + word, buckets))
            if "char" in families:
                hashed.extend(char_buckets)
        if "text_char" in families:
            # crc32(b"t:" + piece) continued from crc32(b"t:"); the folded text is ASCII.
            written = _written(text).encode("ascii")
            low, high = self.text_char_ngrams
            hashed.extend(1 + zlib.crc32(written[start:start + size], _TEXT_CHAR_CRC) % (buckets - 1)
                          for size in range(low, high + 1) for start in range(len(written) - size + 1))
        ids = list(dict.fromkeys(hashed))[: self.max_ngrams]
        return ids + [PAD_INDEX] * (self.max_ngrams - len(ids))

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
        ids = [self.index.get(token, UNK_INDEX) for token in words][: self.max_len]
        ids += [PAD_INDEX] * (self.max_len - len(ids))
        if self.ngrams is not None:
            ids += self.ngrams.encode(words, text)
        return ids

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
