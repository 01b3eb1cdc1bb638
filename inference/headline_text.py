"""Text handling shared by training and inference (shipped in the model artifact).

Tokens follow text8's conventions so that headline words meet the word vectors trained on
it: lowercase ASCII letters only, every other character a separator, digits spelled out one
by one ("2014" -> "two zero one four"). Runs on Python 3.8 (the SageMaker MXNet images).

Besides the word indices, a vocabulary may add hashed n-gram features (fastText style): the
words, word bigrams and character n-grams of each word (with ``<`` ``>`` boundary marks),
each hashed with CRC-32 (stable across processes and Python versions) into ``buckets`` - 1
slots (0 is padding). Inference must encode exactly as training did, hence this one module.
"""
import re
import unicodedata
import zlib
from collections import Counter
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

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


def _bucket(feature: str, buckets: int) -> int:
    return 1 + zlib.crc32(feature.encode("utf-8")) % (buckets - 1)


def ngram_features(words: Sequence[str], char_ngrams: Tuple[int, int]) -> List[str]:
    """Word by word: the word, the bigram it ends, its character n-grams (``"<" + word + ">"``)."""
    low, high = char_ngrams
    features: List[str] = []
    for position, word in enumerate(words):
        features.append("w:" + word)
        if position:
            features.append("b:" + words[position - 1] + " " + word)
        marked = "<" + word + ">"
        for size in range(low, high + 1):
            for start in range(len(marked) - size + 1):
                features.append("c:" + marked[start:start + size])
    return features


class NgramHashing:
    """Settings of the hashed n-gram features; ``encode`` gives ``max_ngrams`` distinct bucket ids."""

    def __init__(self, buckets: int, max_ngrams: int, char_ngrams: Tuple[int, int] = (2, 5)):
        if buckets < 2 or max_ngrams < 1 or not 1 <= char_ngrams[0] <= char_ngrams[1]:
            raise ValueError("n-gram hashing needs buckets >= 2, max_ngrams >= 1, 1 <= min <= max")
        self.buckets = int(buckets)
        self.max_ngrams = int(max_ngrams)
        self.char_ngrams = (int(char_ngrams[0]), int(char_ngrams[1]))

    def encode(self, words: Sequence[str]) -> List[int]:
        """Distinct bucket ids in order of first occurrence (a binary bag), then padding."""
        ids = list(dict.fromkeys(_bucket(feature, self.buckets)
                                 for feature in ngram_features(words, self.char_ngrams)))[: self.max_ngrams]
        return ids + [PAD_INDEX] * (self.max_ngrams - len(ids))

    def to_json(self) -> Dict[str, object]:
        return {"hash": "crc32", "buckets": self.buckets, "max_ngrams": self.max_ngrams,
                "char_ngrams": list(self.char_ngrams), "features": ["word", "word_bigram", "char"]}

    @classmethod
    def from_json(cls, data: Dict[str, object]) -> "NgramHashing":
        if data.get("hash") != "crc32":
            raise ValueError("vocab.json: unknown n-gram hash {}".format(data.get("hash")))
        low, high = data["char_ngrams"]  # type: ignore[misc]
        return cls(int(data["buckets"]), int(data["max_ngrams"]), (int(low), int(high)))  # type: ignore[arg-type]


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
            ids += self.ngrams.encode(words)
        return ids

    def to_json(self) -> Dict[str, object]:
        """``text8-v1`` without n-grams (readable by older inference code), ``text8-v2`` with."""
        data = {
            "tokenizer": "text8-v1" if self.ngrams is None else "text8-v2",
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
    def from_json(cls, data: Dict[str, object]) -> "Vocabulary":
        tokenizer = data.get("tokenizer")
        if tokenizer not in ("text8-v1", "text8-v2"):
            raise ValueError("vocab.json was written by an unknown tokenizer: {}".format(tokenizer))
        ngrams = None
        if tokenizer == "text8-v2":
            ngrams = NgramHashing.from_json(data["ngrams"])  # type: ignore[arg-type]
        return cls(list(data["tokens"]), int(data["max_len"]), ngrams)  # type: ignore[arg-type]
