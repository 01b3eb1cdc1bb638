"""Text handling shared by training and inference (shipped in the model artifact).

Tokens follow text8's conventions so that headline words meet the word vectors trained on
it: lowercase ASCII letters only, every other character a separator, digits spelled out one
by one ("2014" -> "two zero one four"). Runs on Python 3.8 (the SageMaker MXNet images).
"""
import re
import unicodedata
from collections import Counter
from typing import Dict, Iterable, List, Optional, Sequence

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


def tokenize(text: str) -> List[str]:
    """Lowercase, fold accents to ASCII, spell out digits, split on everything else."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    spelled = _DIGITS.sub(lambda match: _DIGIT_WORDS[match.group(0)], folded.lower())
    return _WORD.findall(spelled)


class Vocabulary:
    """Token <-> index mapping plus the settings inference needs to encode raw text."""

    def __init__(self, tokens: Sequence[str], max_len: int):
        if list(tokens[:2]) != [PAD, UNK]:
            raise ValueError("a vocabulary starts with the padding and unknown tokens")
        self.tokens = list(tokens)
        self.index = {token: position for position, token in enumerate(self.tokens)}
        self.max_len = max_len

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, texts: Iterable[str], max_len: int, min_count: int = 1,
              keep: Optional[Iterable[str]] = None) -> "Vocabulary":
        """Words seen at least ``min_count`` times, plus any word in ``keep`` (e.g. words
        with a pretrained vector), in a deterministic order (frequency, then alphabet)."""
        counts = Counter(token for text in texts for token in tokenize(text))
        keep_set = set(keep or ())
        chosen = [word for word, count in counts.items() if count >= min_count or word in keep_set]
        chosen.sort(key=lambda word: (-counts[word], word))
        return cls([PAD, UNK] + chosen, max_len)

    def encode(self, text: str) -> List[int]:
        """Token indices, cut or padded to ``max_len`` (padding after the words)."""
        ids = [self.index.get(token, UNK_INDEX) for token in tokenize(text)][: self.max_len]
        return ids + [PAD_INDEX] * (self.max_len - len(ids))

    def to_json(self) -> Dict[str, object]:
        return {
            "tokenizer": "text8-v1",
            "lowercase": True,
            "digits": "spelled",
            "max_len": self.max_len,
            "pad_index": PAD_INDEX,
            "unk_index": UNK_INDEX,
            "tokens": self.tokens,
        }

    @classmethod
    def from_json(cls, data: Dict[str, object]) -> "Vocabulary":
        if data.get("tokenizer") != "text8-v1":
            raise ValueError("vocab.json was written by an unknown tokenizer: {}".format(data.get("tokenizer")))
        return cls(list(data["tokens"]), int(data["max_len"]))
