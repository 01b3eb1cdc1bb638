"""The ensemble's plan: which networks it trains (CNNs, then one linear member per n-gram
view), their weights in the probability mix, and each member's training settings on the data
at hand (batch size and rate, batch order). Runs on Python 3.8 (the SageMaker MXNet image)."""
import argparse
from typing import List, Optional, Sequence, Tuple


def uses_ngrams(args: argparse.Namespace) -> bool:
    return args.model == "textcnn" and args.ngram_buckets > 0 and args.ngram_dim > 0


def uses_linear(args: argparse.Namespace) -> bool:
    return uses_ngrams(args) and args.linear_weight > 0


def member_kinds(args: argparse.Namespace) -> List[str]:
    """The networks of the ensemble, in order: the CNNs, then one linear member per view."""
    return [args.model] * max(1, args.ensemble) + (["linear"] * len(args.linear_views) if uses_linear(args) else [])


def member_name(kind: str, member: int) -> str:
    """``textcnn0``, ``linear2``...: the prefix of the member's parameters in the exported network."""
    return "{}{}".format(kind, member)


def member_weights(args: argparse.Namespace, kinds: Sequence[str]) -> List[float]:
    cnns = sum(1 for kind in kinds if kind != "linear")
    linears = len(kinds) - cnns
    share = min(max(args.linear_weight, 0.0), 1.0) if linears else 0.0
    return [share / linears if kind == "linear" else (1.0 - share) / cnns for kind in kinds]


def linear_view(args: argparse.Namespace, member: int) -> Tuple[str, ...]:
    """The n-gram families a linear member reads (members are numbered CNNs first)."""
    return args.linear_views[member - member_kinds(args).index("linear")]


#: A CNN epoch has at least this many steps: smaller data gets smaller batches.
MIN_STEPS_PER_EPOCH = 100
SMALLEST_BATCH = 32
#: CNN batches this large or larger are length-sorted (``length_sort_batches``): large data,
#: 25,600 training rows and up.
LENGTH_SORTED_FROM = 256


def cnn_batch(batch_size: int, learning_rate: float, rows: int) -> Tuple[int, float]:
    """(batch, learning rate) of a CNN member on ``rows`` training rows. ``batch_size`` is the
    most: an epoch of fewer than 100 batches takes the largest power of two <= rows / 100 (at
    least 32), with Adam's rate scaled by sqrt(batch / batch_size). Large data trains in large
    batches (fast); the sample's 8,134 rows in batches of 64 at 0.002, where the model's quality
    was measured (bench/quality.py): few large steps would underfit it."""
    fits = SMALLEST_BATCH
    while fits * 2 <= rows / MIN_STEPS_PER_EPOCH:
        fits *= 2
    batch = min(batch_size, fits)
    return batch, learning_rate * (batch / float(batch_size)) ** 0.5


def member_args(args: argparse.Namespace, kind: str, rows: int) -> argparse.Namespace:
    """The training settings of one member on ``rows`` training rows: a CNN's batch follows the
    data's size (``cnn_batch``), and its batches are length-sorted from batches of 256; the
    linear one has its own rate, decay, epochs and batch size (and plain batches)."""
    if kind == "textcnn":
        batch, rate = cnn_batch(args.batch_size, args.learning_rate, rows)
        # Length-sorted batches where speed matters, large data; smaller data (the sample) keeps
        # the plain slices its quality was measured with (sorted: the same mean, within the noise).
        sort_run = args.length_sort_batches if batch >= min(LENGTH_SORTED_FROM, args.batch_size) else 0
        return argparse.Namespace(**dict(vars(args), batch_size=batch, learning_rate=rate,
                                         length_sort_batches=sort_run))
    if kind != "linear":
        return argparse.Namespace(**dict(vars(args), length_sort_batches=0))  # the seed network: its own order
    return argparse.Namespace(**dict(vars(args), length_sort_batches=0, learning_rate=args.linear_learning_rate,
                                     weight_decay=args.linear_weight_decay, epochs=args.linear_epochs,
                                     batch_size=args.linear_batch_size))


def widest_filter(args: argparse.Namespace, kind: str) -> Optional[int]:
    """What batches.trimmed needs of a member; ``None`` for a member that takes the exported
    model's one input: the seed network (its shape depends on max_len) and any member without
    n-grams (a graph input must be used)."""
    if kind == "seed" or not uses_ngrams(args):
        return None
    return max(args.kernel_sizes) if kind == "textcnn" else 1
