"""The one typed definition of every hyperparameter (runs on Python 3.8, stdlib only).

``train.py`` derives its argument parser from ``CLASSIFIER`` (the MXNet image has no
pydantic); ``headlines/config.py`` derives the pydantic models that validate ``cdk.json``, the
command line's ``-H`` and the state machine's training jobs from ``CLASSIFIER`` and
``BLAZINGTEXT``. Names are the ones SageMaker passes: ``--name value`` to train.py, and
BlazingText's own names for the embeddings job.

Every value has a canonical *wire* form, the one that goes into ``hyperparameters.json``:
numbers and booleans as themselves, lists as the comma-separated strings train.py parses
(``"1,2,3,4"``, ``"word+char,text_char"``). ``convert`` turns a command-line string or a JSON
value into its canonical form, or raises ``ValueError`` with one line naming the problem.
"""
import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

# In the sourcedir tarball every module sits beside this file; in the repository the text
# module lives in inference/ (it ships with the serving code).
_INFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "inference")
if _INFERENCE not in sys.path:
    sys.path.append(_INFERENCE)

from headline_text import FAMILIES  # noqa: E402

#: Value kinds. ``ints``: comma-separated integers; ``families``: n-gram feature families;
#: ``views``: comma-separated groups of ``+``-joined families (one linear member each).
KINDS = ("int", "float", "bool", "str", "ints", "families", "views")


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    kind: str
    default: Any  # in the canonical wire form
    help: str = ""
    minimum: Optional[float] = None  # inclusive (for ints/families: of each element)
    maximum: Optional[float] = None  # inclusive
    above: Optional[float] = None  # exclusive lower bound
    below: Optional[float] = None  # exclusive upper bound
    choices: Optional[Tuple[str, ...]] = None
    length: Optional[Tuple[int, int]] = None  # for ints: fewest and most elements

    def convert(self, value: Any) -> Any:
        """The canonical wire form of ``value`` (a string from a command line or a JSON value)."""
        try:
            converted = _CONVERTERS[self.kind](self, value)
        except ValueError as error:
            raise ValueError("{}: {}".format(self.name, error)) from error
        return converted

    def parse(self, wire: Any) -> Any:
        """The Python value train.py works with (tuples for the list kinds)."""
        value = self.convert(wire)
        if self.kind == "ints":
            return tuple(int(part) for part in value.split(","))
        if self.kind == "families":
            return tuple(value.split(","))
        if self.kind == "views":
            return tuple(tuple(group.split("+")) for group in value.split(","))
        return value

    def describe(self) -> str:
        """The type and bounds in words, for help texts and the README."""
        bounds = []
        if self.minimum is not None:
            bounds.append(">= {}".format(_number(self.minimum)))
        if self.above is not None:
            bounds.append("> {}".format(_number(self.above)))
        if self.maximum is not None:
            bounds.append("<= {}".format(_number(self.maximum)))
        if self.below is not None:
            bounds.append("< {}".format(_number(self.below)))
        if self.choices:
            bounds.append("one of " + ", ".join(self.choices))
        return self.kind + (": " + ", ".join(bounds) if bounds else "")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _text(value: Any) -> str:
    """A JSON list arrives as a list from cdk.json, and as ``[1, 2]`` from SageMaker's toolkit."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    if not isinstance(value, str):
        raise ValueError("expected a string or a list, got {}".format(json.dumps(value)))
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return ",".join(part.strip().strip("'\"") for part in text.split(",") if part.strip())


def _check_bounds(spec: Hyperparameter, number: float) -> None:
    if spec.minimum is not None and number < spec.minimum:
        raise ValueError("must be >= {}, got {}".format(_number(spec.minimum), number))
    if spec.maximum is not None and number > spec.maximum:
        raise ValueError("must be <= {}, got {}".format(_number(spec.maximum), number))
    if spec.above is not None and number <= spec.above:
        raise ValueError("must be > {}, got {}".format(_number(spec.above), number))
    if spec.below is not None and number >= spec.below:
        raise ValueError("must be < {}, got {}".format(_number(spec.below), number))


def _int(spec: Hyperparameter, value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got {}".format(json.dumps(value)))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValueError("expected an integer, got '{}'".format(value)) from None
    if not isinstance(value, int):
        raise ValueError("expected an integer, got {}".format(json.dumps(value)))
    _check_bounds(spec, value)
    return value


def _float(spec: Hyperparameter, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got {}".format(json.dumps(value)))
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError("expected a number, got '{}'".format(value)) from None
    if not isinstance(value, (int, float)) or value != value or value in (float("inf"), float("-inf")):
        raise ValueError("expected a finite number, got {}".format(json.dumps(value)))
    _check_bounds(spec, float(value))
    return float(value)


def _bool(spec: Hyperparameter, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    # SageMaker's toolkit passes a JSON true as the string "True".
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("expected true or false, got {}".format(json.dumps(value)))


def _str(spec: Hyperparameter, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string, got {}".format(json.dumps(value)))
    if spec.choices and value not in spec.choices:
        raise ValueError("expected one of {}, got '{}'".format(", ".join(spec.choices), value))
    return value


def _ints(spec: Hyperparameter, value: Any) -> str:
    parts = _text(value).split(",") if _text(value) else []
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        raise ValueError("expected comma-separated integers, got {}".format(json.dumps(value))) from None
    low, high = spec.length or (1, 1 << 30)
    if not low <= len(numbers) <= high:
        raise ValueError("expected {} integers, got {}".format(
            low if low == high else "{} to {}".format(low, high), len(numbers)))
    for number in numbers:
        _check_bounds(spec, number)
    return ",".join(str(number) for number in numbers)


def _family_list(families: Sequence[str]) -> str:
    unknown = [family for family in families if family not in FAMILIES]
    if unknown or not families:
        raise ValueError("unknown n-gram features {}: use some of {}".format(
            ",".join(unknown) or "(none)", ",".join(FAMILIES)))
    return ",".join(families)


def _families(spec: Hyperparameter, value: Any) -> str:
    return _family_list([part for part in _text(value).split(",") if part])


def _views(spec: Hyperparameter, value: Any) -> str:
    groups = [group for group in _text(value).split(",") if group]
    if not groups:
        raise ValueError("expected at least one view")
    return ",".join(_family_list([part for part in group.split("+") if part]).replace(",", "+")
                    for group in groups)


_CONVERTERS = {"int": _int, "float": _float, "bool": _bool, "str": _str, "ints": _ints,
               "families": _families, "views": _views}

H = Hyperparameter

#: train.py's hyperparameters, in the order of its --help. Defaults are the model's.
CLASSIFIER = (
    H("model", "str", "textcnn", "network: textcnn (the ensemble) or seed (the first baseline)",
      choices=("textcnn", "seed")),
    H("epochs", "int", 12, "most epochs of each CNN member (early stopping may end sooner)", minimum=1),
    H("batch_size", "int", 512,
      "most headlines per optimisation step of a CNN member: with fewer than 100 x batch_size training rows, "
      "the largest power of two <= rows / 100 (at least 32) and learning_rate x sqrt(batch / batch_size)",
      minimum=1),
    # Written in full: the sqrt-scaled rates of batches of 256 and 64 are then 0.004 and 0.002 to
    # the float32 bit, so the sample's model stayed the one of batch_size 256.
    H("learning_rate", "float", 0.005656854249492381,
      "Adam's step size of the CNN members at batch_size (0.004 x sqrt(2): batches of 256 train at 0.004, "
      "the sample's of 64 at 0.002)", above=0),
    H("length_sort_batches", "int", 32,
      "CNN members on large data (batches of 256 or more): sort each run of this many batches of an "
      "epoch's shuffled rows by headline length, then shuffle the batches (a batch of about one length carries "
      "little padding: cheaper steps); smaller data and 0: plain slices of the shuffled rows", minimum=0),
    H("weight_decay", "float", 0.0, "L2 penalty of the CNN members", minimum=0),
    H("seed", "int", 42, "seed of the split and of member 0 (member n: seed+n)", minimum=0),
    H("split", "str", "story", "story: each story on one side; random_leaky: rows at random",
      choices=("story", "random_leaky")),
    H("validation_fraction", "float", 0.1, "share of the stories (or rows) for validation", above=0, below=1),
    H("test_fraction", "float", 0.15, "share of the stories (or rows) held out for the test", above=0, below=1),
    H("max_len", "int", 24, "words kept per headline (the sample's longest has 24)", minimum=1),
    H("vector_dim", "int", 100, "the word vectors' dimension; set from embeddings.hyperparameters.vector_dim",
      minimum=1),
    H("kernel_sizes", "ints", "1,2,3,4", "CNN filter widths, in words", minimum=1),
    H("num_filters", "int", 64, "CNN filters per width", minimum=1),
    H("dropout", "float", 0.5, "CNN dropout rate", minimum=0, below=1),
    H("embed_dropout", "float", 0.2, "dropout rate on the word embeddings", minimum=0, below=1),
    H("ngram_buckets", "int", 131072,
      "hashed word/bigram/character n-gram buckets of the fastText-style branch (0: none)", minimum=0),
    H("ngram_dim", "int", 32, "size of the CNN's hashed n-gram embedding (0: none)", minimum=0),
    H("char_ngrams", "ints", "3,5", "min,max character n-gram length", minimum=1, length=(1, 2)),
    H("text_char_ngrams", "ints", "2,5",
      "min,max length of the character n-grams of the headline as written (text_char)", minimum=1, length=(1, 2)),
    H("ngram_features", "families", ",".join(FAMILIES),
      "n-gram families in the hashed bag: word, word_bigram, char (of each token), text_char"),
    H("max_ngrams", "int", 640, "hashed n-grams kept per headline", minimum=1),
    H("ensemble", "int", 2, "CNNs trained with seeds seed, seed+1, ...; probabilities averaged", minimum=1),
    H("linear_weight", "float", 0.75,
      "share of the n-gram TF-IDF logistic-regression members in the ensemble's probabilities (0: none)",
      minimum=0, maximum=1),
    H("linear_views", "views", "word+word_bigram+char,text_char",
      "one logistic-regression member per comma-separated view, each a +-joined set of n-gram families"),
    H("linear_learning_rate", "float", 0.02, "Adam's step size of the linear members", above=0),
    H("linear_weight_decay", "float", 3e-4, "L2 penalty of the linear members", minimum=0),
    H("linear_epochs", "int", 20, "most epochs of each linear member", minimum=1),
    H("linear_batch_size", "int", 64, "headlines per optimisation step of the linear members", minimum=1),
    H("label_smoothing", "float", 0.0, "share of the target mass spread evenly over the classes", minimum=0, below=1),
    H("lr_decay", "float", 1.0, "learning rate factor per epoch", above=0),
    H("refit", "bool", True,
      "after early stopping, train each member again on training + validation rows for its best "
      "number of epochs (validation metrics are then those of the models before the refit)"),
    H("patience", "int", 3, "validation checks without macro-F1 gain before stopping", minimum=1),
    H("validation_rows", "int", 20000,
      "score the validation side about every this many training rows (at least once per epoch; 0: once per "
      "epoch): on large data, early stopping counts in rows seen, not in whole passes", minimum=0),
    H("check_rows", "int", 10000,
      "validation rows scored at each early-stopping check: a fixed random subset of the validation side when it "
      "is larger (0: all of it); the reported validation metrics score all of it", minimum=0),
    H("fine_tune_embeddings", "bool", True, "train the pretrained word vectors further"),
    H("class_weighting", "str", "balanced", "loss weight per class: n / (classes * count), its square root, or 1",
      choices=("balanced", "sqrt", "none")),
    H("extra_vocab", "int", 20000,
      "also keep the N most frequent words of the word vectors (headline words unseen in training)", minimum=0),
)

#: The BlazingText job's Word2Vec-mode hyperparameters, by BlazingText's own names and ranges
#: (SageMaker's "BlazingText Hyperparameters" page); ``mode`` is required there.
BLAZINGTEXT = (
    H("mode", "str", "batch_skipgram", "Word2Vec architecture", choices=("batch_skipgram", "skipgram", "cbow")),
    H("vector_dim", "int", 100, "dimension of the word vectors", minimum=1),
    H("epochs", "int", 5, "passes over the corpus", minimum=1),
    H("min_count", "int", 5, "words seen fewer times are dropped", minimum=0),
    H("window_size", "int", 5, "context words on each side", minimum=1),
    H("negative_samples", "int", 5, "negative samples per word", minimum=1),
    H("sampling_threshold", "float", 0.0001, "down-sampling threshold of frequent words", above=0, below=1),
    H("learning_rate", "float", 0.05, "step size", above=0),
    H("batch_size", "int", 11, "batch_skipgram only (10 to 20 recommended)", minimum=1),
    H("subwords", "bool", False, "learn subword (character n-gram) vectors too"),
    H("evaluation", "bool", True, "score the vectors on WS-353 (eval.json)"),
    H("buckets", "int", 2000000, "hash buckets of the subwords", minimum=1),
    H("min_char", "int", 3, "shortest subword n-gram", minimum=1),
    H("max_char", "int", 6, "longest subword n-gram", minimum=1),
)

#: The classifier's hyperparameter that the embeddings job decides.
DERIVED = {"vector_dim": "embeddings.hyperparameters.vector_dim"}


def conflicts(values: Mapping[str, Any]) -> Optional[str]:
    """What is wrong with this combination of classifier values (parsed, every name present)."""
    uses_linear = (values["model"] == "textcnn" and values["ngram_buckets"] > 0 and values["ngram_dim"] > 0
                   and values["linear_weight"] > 0)
    outside = sorted({family for view in values["linear_views"] for family in view} - set(values["ngram_features"]))
    if uses_linear and outside:
        return "linear_views uses n-gram features not in ngram_features: {}".format(",".join(outside))
    return None


def classifier_conflicts(wire: Mapping[str, Any]) -> Optional[str]:
    """``conflicts`` of wire values, defaults filled in."""
    return conflicts({spec.name: spec.parse(wire.get(spec.name, spec.default)) for spec in CLASSIFIER})


def by_name(specs: Sequence[Hyperparameter]) -> Dict[str, Hyperparameter]:
    return {spec.name: spec for spec in specs}


def canonical(specs: Sequence[Hyperparameter], values: Mapping[str, Any]) -> Dict[str, Any]:
    """``values`` in their wire form; ValueError naming the first unknown or bad key."""
    known = by_name(specs)
    out = {}
    for name, value in values.items():
        if name not in known:
            raise ValueError("unknown hyperparameter '{}'".format(name) + _suggestion(name, known))
        out[name] = known[name].convert(value)
    return out


def _suggestion(name: str, known: Mapping[str, Hyperparameter]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return " (did you mean '{}'?)".format(close[0]) if close else ""
