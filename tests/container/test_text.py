"""The tokenizer and vocabulary shared by training and inference (inference/headline_text.py)."""
from __future__ import annotations

import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "inference"))

from headline_text import (
    PAD_INDEX,
    UNK_INDEX,
    NgramHashing,
    Vocabulary,
    first_distinct,
    ngram_features,
    tokenize,
)


@pytest.mark.parametrize("text, tokens", [
    ("Apple Shares RISE", ["apple", "shares", "rise"]),
    ("U.S. stocks: Dow's rally, S&P-500 up!", ["u", "s", "stocks", "dow", "s", "rally", "s", "p", "five", "zero", "zero", "up"]),
    ("Sales up 2014", ["sales", "up", "two", "zero", "one", "four"]),
    ("3D", ["three", "d"]),
    ("Beyoncé’s café — naïve", ["beyonce", "s", "cafe", "naive"]),
    ("ﬁnal Ｆed", ["final", "fed"]),  # compatibility forms fold to ASCII
    ("", []),
    ("   ...!!! ", []),
    ("日本 Tokyo", ["tokyo"]),
])
def test_tokenize_follows_text8_conventions(text, tokens):
    assert tokenize(text) == tokens


def test_vocabulary_order_padding_truncation_and_unknown_words():
    vocab = Vocabulary.build(["b a a", "c a b"], max_len=4, keep=["zebra"])
    assert vocab.tokens[:2] == ["<pad>", "<unk>"]
    assert vocab.tokens[2:] == ["a", "b", "c"]  # by frequency, then alphabet; kept words only if seen
    assert vocab.encode("A b") == [2, 3, PAD_INDEX, PAD_INDEX]
    assert vocab.encode("a mystery word") == [2, UNK_INDEX, UNK_INDEX, PAD_INDEX]
    assert vocab.encode("a b c a b c") == [2, 3, 4, 2]
    assert vocab.width == 4
    assert Vocabulary.build(["a", "a", "b"], 3, min_count=2, keep=["b"]).tokens == ["<pad>", "<unk>", "a", "b"]


def test_ngram_features_words_bigrams_and_marked_characters():
    assert ngram_features(["up", "ai"], (2, 3)) == [
        "w:up", "c:<u", "c:up", "c:p>", "c:<up", "c:up>",
        "w:ai", "b:up ai", "c:<a", "c:ai", "c:i>", "c:<ai", "c:ai>",
    ]


def test_text_char_ngrams_read_the_headline_as_written():
    # Case, punctuation and digits kept (the tokens lose them), spaces squeezed, one at each end.
    assert ngram_features(["up"], (2, 3), ("text_char",), "Up!", (2, 3)) == [
        "t: U", "t:Up", "t:p!", "t:! ", "t: Up", "t:Up!", "t:p! ",
    ]
    assert ngram_features(["q", "two"], (2, 2), ("word", "text_char"), " Q2  ", (3, 3)) == [
        "w:q", "w:two", "t: Q2", "t:Q2 ",
    ]
    hashing = NgramHashing(1 << 16, 64, (3, 5), ("word", "text_char"), (2, 5))
    words = tokenize("Apple rises")
    assert hashing.encode(words, "Apple rises") != hashing.encode(words, "APPLE RISES")
    assert hashing.families == ("word", "text_char")
    with pytest.raises(ValueError, match="unknown n-gram features"):
        NgramHashing(1 << 16, 64, (3, 5), ("word", "emoji"))


@pytest.mark.parametrize("families", [("word", "word_bigram", "char"), ("char", "text_char"),
                                      ("word", "word_bigram", "char", "text_char")])
def test_encode_hashes_exactly_the_features_ngram_features_lists(families):
    hashing = NgramHashing(1 << 12, 500, (2, 4), families, (3, 5))  # few buckets: collisions too
    for text in ["Fed's Yellen: U.S. economy needs support", "Apple iPhone 6 sales", "", "Ebola ebola EBOLA"]:
        words = tokenize(text)
        features = ngram_features(words, (2, 4), families, text, (3, 5))
        expected = list(dict.fromkeys(1 + zlib.crc32(f.encode()) % ((1 << 12) - 1) for f in features))
        assert hashing.encode(words, text) == expected + [PAD_INDEX] * (500 - len(expected))


def test_ngram_hashing_is_stable_padded_and_cut():
    hashing = NgramHashing(buckets=1 << 16, max_ngrams=8, char_ngrams=(2, 5))
    ids = hashing.encode(["apple"])
    # CRC-32, not Python's per-process hash(): artifacts stay valid across processes.
    assert ids[0] == 1 + zlib.crc32(b"w:apple") % ((1 << 16) - 1) == 45228
    assert all(0 < value < 1 << 16 for value in ids)
    assert len(hashing.encode(["a", "b", "c", "d", "e", "f"])) == 8
    assert hashing.encode([]) == [PAD_INDEX] * 8
    assert hashing.encode(["up"])[7:] == [PAD_INDEX]  # the word and its 6 character n-grams
    with pytest.raises(ValueError):
        NgramHashing(1, 8)


def test_ngram_ids_are_a_binary_bag_in_order_of_first_occurrence():
    hashing = NgramHashing(buckets=1 << 20, max_ngrams=40, char_ngrams=(3, 3))
    once = [value for value in hashing.encode(["go"]) if value]
    twice = [value for value in hashing.encode(["go", "go"]) if value]
    assert len(set(once)) == len(once) == 3  # w:go, c:<go, c:go>
    assert twice[:3] == once and len(twice) == len(set(twice)) == 4  # plus the bigram "go go"


@pytest.mark.parametrize("buckets", [1 << 17, 1 << 31])  # the 16-bit radix passes, and the one stable sort
def test_first_distinct_keeps_each_rows_first_occurrences_up_to_the_limit(buckets):
    import numpy as np

    rng = np.random.RandomState(7)
    counts = rng.randint(0, 60, size=300)
    counts[:3] = 0  # empty rows, first and in between
    ids = rng.randint(1, 50, size=int(counts.sum())) * (buckets // 64)  # many repeats, high bits set
    kept, offsets = first_distinct(ids, counts, buckets, limit=20)
    start = 0
    for row, count in enumerate(counts):
        expected = list(dict.fromkeys(ids[start:start + count].tolist()))[:20]
        assert kept[offsets[row]:offsets[row + 1]].tolist() == expected
        start += count
    assert kept.dtype == np.int32 and offsets[-1] == len(kept)


def test_vocabulary_with_ngrams_appends_bucket_ids():
    hashing = NgramHashing(buckets=1024, max_ngrams=10, char_ngrams=(3, 4))
    vocab = Vocabulary.build(["stocks rally"], max_len=3, ngrams=hashing)
    encoded = vocab.encode("Stocks rally today")
    assert vocab.width == len(encoded) == 13
    assert encoded[:3] == [vocab.index["stocks"], vocab.index["rally"], UNK_INDEX]
    assert encoded[3:] == hashing.encode(["stocks", "rally", "today"])


def test_json_round_trip_and_backward_compatibility():
    plain = Vocabulary.build(["some words here"], max_len=5)
    data = plain.to_json()
    assert data["tokenizer"] == "text8-v1" and "ngrams" not in data  # older readers still accept it
    assert Vocabulary.from_json(data).encode("words here") == plain.encode("words here")

    hashed = Vocabulary.build(["some words here"], max_len=5, ngrams=NgramHashing(4096, 30, (2, 5)))
    data = hashed.to_json()
    assert data["tokenizer"] == "text8-v2"
    assert data["ngrams"] == {"hash": "crc32", "buckets": 4096, "max_ngrams": 30, "char_ngrams": [2, 5],
                              "features": ["word", "word_bigram", "char"]}
    again = Vocabulary.from_json(data)
    assert again.encode("Some words, unseen!") == hashed.encode("Some words, unseen!")

    written = Vocabulary.build(["some words"], max_len=5,
                               ngrams=NgramHashing(4096, 60, (3, 4), ("word", "char", "text_char"), (2, 4)))
    data = written.to_json()
    assert data["tokenizer"] == "text8-v3"  # older inference code refuses it rather than encode it wrongly
    assert data["ngrams"]["features"] == ["word", "char", "text_char"] and data["ngrams"]["text_char_ngrams"] == [2, 4]
    again = Vocabulary.from_json(data)
    assert again.encode("Some WORDS, unseen!") == written.encode("Some WORDS, unseen!")
    assert again.encode("Some WORDS") != again.encode("some words")

    written_by_v1 = {"tokenizer": "text8-v1", "lowercase": True, "digits": "spelled", "max_len": 3,
                     "pad_index": 0, "unk_index": 1, "tokens": ["<pad>", "<unk>", "fed"]}
    assert Vocabulary.from_json(written_by_v1).encode("Fed up") == [2, 1, 0]

    with pytest.raises(ValueError, match="unknown tokenizer"):
        Vocabulary.from_json(dict(written_by_v1, tokenizer="bert"))
    with pytest.raises(ValueError):
        Vocabulary(["a", "b"], 3)
