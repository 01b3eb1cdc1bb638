"""Trains the headline classifier: SageMaker script-mode entry point (runs on Python 3.8).

SageMaker's training toolkit passes hyperparameters as ``--name value`` arguments (names,
types and bounds: hyperparameters.py; an unknown name or a bad value is a usage error) and
data locations as ``SM_CHANNEL_*`` environment variables; the local pipeline runs this same
file through the same toolkit. Output (the model artifact contract, see README): in ``SM_MODEL_DIR``,
``model-symbol.json``, ``model-0000.params``, ``vocab.json``, ``labels.json``,
``metrics.json`` (with a per-epoch ``history`` of every member) and ``code/`` (the serving
entry point and the modules it imports: the text encoding, the network in numpy).
Metrics are printed as ``name=value;`` lines for SageMaker metric definitions.
"""
import argparse
import hashlib
import json
import logging
import math
import os
import random
import shutil
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
# In the sourcedir tarball every module sits beside this file; in the repository the text
# module lives in inference/ (it ships with the serving code).
sys.path.append(os.path.join(HERE, os.pardir, "inference"))

import batches  # noqa: E402
import headline_text  # noqa: E402
import numpy as np  # noqa: E402
from champion import rows_checksum, score_champion  # noqa: E402
from headline_text import PAD_INDEX, NgramHashing, Vocabulary, tokenize  # noqa: E402
from hyperparameters import CLASSIFIER, Hyperparameter, conflicts  # noqa: E402
from members import (  # noqa: E402
    linear_view,
    member_args,
    member_kinds,
    member_name,
    member_weights,
    uses_ngrams,
    widest_filter,
)
from metrics import classification_report  # noqa: E402
from news_data import LABELS, DataError, Headline, category_mix, label_counts, load_headlines, make_split  # noqa: E402
from word_vectors import read_vectors  # noqa: E402

LOG = logging.getLogger("train")


class ArtifactError(Exception):
    """The model directory cannot be written (a full disk); one line for the user."""

CODE_FILES = ("inference.py", "headline_text.py", "numpy_network.py")


def _argument_type(spec: Hyperparameter):
    """argparse's ``type``: the schema's conversion, its ValueError as argparse's usage error."""
    def convert(text: str):
        try:
            return spec.parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error).split(": ", 1)[-1]) from error
    convert.__name__ = spec.kind  # argparse names the type in its messages
    return convert


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    # allow_abbrev=False: "--epoch" must not be taken for "--epochs".
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    add = parser.add_argument
    # Hyperparameters, as SageMaker passes them: one definition in hyperparameters.py.
    for spec in CLASSIFIER:
        add("--" + spec.name, type=_argument_type(spec), default=spec.parse(spec.default),
            help="{} ({}; default {})".format(spec.help, spec.describe(), spec.default).lstrip(" "))
    # Locations (SageMaker's environment variables; overridable for local runs).
    add("--model-dir", dest="model_dir", default=os.environ.get("SM_MODEL_DIR", "model"))
    add("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    add("--embeddings", default=os.environ.get("SM_CHANNEL_EMBEDDINGS"))
    add("--test", default=os.environ.get("SM_CHANNEL_TEST"), help="score on this file instead of a held-out split")
    add("--champion", default=os.environ.get("SM_CHANNEL_CHAMPION"),
        help="the approved model (model.tar.gz or its folder), scored on the same test rows (champion.py)")
    args = parser.parse_args(argv)  # an unknown name is a usage error, not a warning
    if not args.train:
        parser.error("no training data: set SM_CHANNEL_TRAIN or pass --train")
    if not args.embeddings:
        parser.error("no word vectors: set SM_CHANNEL_EMBEDDINGS or pass --embeddings")
    conflict = conflicts(vars(args))
    if conflict:
        parser.error(conflict)
    return args


def device():
    """``mx.gpu(0)`` when SageMaker gives the job GPUs (``SM_NUM_GPUS``) and MXNet sees one,
    else the CPU. One device per process, chosen once."""
    global _DEVICE
    if _DEVICE is None:
        import mxnet as mx

        wanted = int(os.environ.get("SM_NUM_GPUS", "0") or 0)
        _DEVICE = mx.gpu(0) if wanted > 0 and mx.context.num_gpus() > 0 else mx.cpu()
        if wanted > 0 and _DEVICE == mx.cpu():
            LOG.warning("SM_NUM_GPUS=%d, but MXNet sees no GPU (a CPU build of MXNet?): training on the CPU", wanted)
    return _DEVICE


_DEVICE = None


def array(values):
    """An NDArray on the training device."""
    import mxnet as mx

    return mx.nd.array(values, ctx=device())


def physical_cores() -> int:
    """Physical cores this process may run on (Linux sysfs topology; else its CPU count)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        topology = "/sys/devices/system/cpu/cpu{}/topology/".format(cpu)
        try:
            with open(topology + "physical_package_id") as package, open(topology + "core_id") as core:
                cores.add((package.read().strip(), core.read().strip()))
        except OSError:
            return len(cpus)
    return max(1, len(cores))


def set_cpu_threads() -> None:
    """One OpenMP thread per physical core, unless the environment sets a number. MXNet's own
    default on x86 is half the logical CPUs (it assumes two hyperthreads per core): right on
    ml.c5 instances, one thread on a machine whose vCPUs are whole cores, such as this
    project's 2-core development machine (a CNN epoch there: 25-30% more rows/s with both
    cores free, README). Must run before MXNet loads."""
    if "OMP_NUM_THREADS" not in os.environ and "MXNET_OMP_MAX_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(physical_cores())


def seed_everything(seed: int) -> None:
    import mxnet as mx

    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def inverse_document_frequency(encoded: batches.Encoded, vocab: Vocabulary, view: np.ndarray) -> np.ndarray:
    """scikit-learn's smooth idf of every bucket over the training headlines, kept for the
    buckets of one view (``view``: a boolean per bucket) and 0 elsewhere and for padding:
    a linear member then reads its view of the bag only."""
    assert vocab.ngrams is not None
    # In chunks: bincount copies its input to int64, 1 GB at the full dataset's 120 million ids.
    frequency = np.zeros(vocab.ngrams.buckets, dtype=np.float64)
    for start in range(0, len(encoded.ngram_ids), 1 << 22):
        frequency += np.bincount(encoded.ngram_ids[start:start + (1 << 22)], minlength=vocab.ngrams.buckets)
    idf = np.log((1.0 + len(encoded)) / (1.0 + frequency)) + 1.0
    idf[~view] = 0.0
    idf[PAD_INDEX] = 0.0
    return idf.astype(np.float32).reshape((-1, 1))


def view_buckets(rows: Sequence[Headline], vocab: Vocabulary, families: Sequence[str]) -> np.ndarray:
    """Which buckets the given n-gram families of the training headlines fall into."""
    assert vocab.ngrams is not None
    hashing = NgramHashing(vocab.ngrams.buckets, vocab.ngrams.max_ngrams, vocab.ngrams.char_ngrams, families,
                           vocab.ngrams.text_char_ngrams)
    seen = np.zeros(vocab.ngrams.buckets, dtype=bool)
    for start in range(0, len(rows), batches.CHUNK_ROWS):
        texts = [row.title for row in rows[start:start + batches.CHUNK_ROWS]]
        seen[hashing.bags([tokenize(text) for text in texts], texts)[0]] = True
    return seen


def linear_buckets(rows: Sequence[Headline], vocab: Vocabulary, args: argparse.Namespace,
                   linear_members: Sequence[int], seen: Sequence[np.ndarray]) -> Dict[int, np.ndarray]:
    """Each linear member's buckets over ``rows``: those their encoding pass found (``seen``,
    one per member), or else a pass of each member's view of its own."""
    if seen:
        return dict(zip(linear_members, seen))
    return {member: view_buckets(rows, vocab, linear_view(args, member)) for member in linear_members}


def build_vocabulary(train: List[Headline], vectors: Dict[str, np.ndarray], args: argparse.Namespace) -> Vocabulary:
    frequent_vector_words = list(vectors)[: args.extra_vocab]
    ngrams = None
    if uses_ngrams(args):
        ngrams = NgramHashing(args.ngram_buckets, args.max_ngrams, args.char_ngrams, args.ngram_features,
                              args.text_char_ngrams)
    return Vocabulary.build((row.title for row in train), args.max_len, keep=frequent_vector_words, ngrams=ngrams)


def embedding_matrix(vocab: Vocabulary, vectors: Dict[str, np.ndarray], dim: int, seed: int) -> Tuple[np.ndarray, int]:
    """Pretrained vectors where known, small random vectors elsewhere, zeros for padding."""
    rng = np.random.RandomState(seed)
    matrix = rng.normal(0.0, 0.1, size=(len(vocab), dim)).astype(np.float32)
    matrix[PAD_INDEX] = 0.0
    found = 0
    for index, token in enumerate(vocab.tokens):
        vector = vectors.get(token)
        if vector is not None:
            matrix[index] = vector
            found += 1
    return matrix, found


def encode(rows: Sequence[Headline], vocab: Vocabulary,
           views: Optional[List[NgramHashing]] = None) -> Tuple[batches.Encoded, List[np.ndarray]]:
    """The rows encoded (batches.py); with ``views``, also the buckets each view reads."""
    codes = [code for code, _ in LABELS]
    return batches.encode([row.title for row in rows], [codes.index(row.label) for row in rows], vocab, views)


def member_inputs(encoded: batches.Encoded, rows: np.ndarray, widest: Optional[int]):
    """A member's inputs for ``rows``: two, cut to what the rows need, or (``widest`` None)
    the one full-width input."""

    if widest is None:
        return (array(batches.full_width(encoded, rows)),)
    tokens, ngrams = batches.trimmed(encoded, rows, widest)
    return array(tokens), array(ngrams)


def predict_classes(net, encoded: batches.Encoded, batch: int = 512, widest: Optional[int] = 0) -> np.ndarray:
    """Class numbers. ``widest`` 0: ``net`` takes the exported model's one input; otherwise a
    member's two inputs (``widest_filter``)."""

    # A member's cut inputs: rows scored shortest first (a CNN member scored the 10,822
    # validation rows of a 108,000-row file 1.2-1.5x faster); the one full-width input: in order.
    order = batches.scoring_order(encoded) if widest != 0 else np.arange(len(encoded))
    classes = np.zeros(len(encoded), dtype=np.int64)
    for start in range(0, len(encoded), batch):
        rows = order[start:start + batch]
        inputs = ((array(batches.full_width(encoded, rows)),) if widest == 0
                  else member_inputs(encoded, rows, widest))
        classes[rows] = net(*inputs).argmax(axis=1).asnumpy()
    return classes


def class_weights(labels: np.ndarray, mode: str) -> np.ndarray:
    n_classes = len(LABELS)
    if mode == "none":
        return np.ones(n_classes, dtype=np.float32)
    counts = np.bincount(labels.astype(np.int64), minlength=n_classes).astype(np.float32)
    balanced = counts.sum() / (n_classes * np.maximum(counts, 1.0))
    return (np.sqrt(balanced) if mode == "sqrt" else balanced).astype(np.float32)


def metric_line(prefix: str, values: Dict[str, float]) -> str:
    return " ".join("{}_{}={:.4f};".format(prefix, name, value) for name, value in values.items())


def smoothed_loss(F, logits, labels, weights, smoothing: float):
    """Class-weighted cross-entropy against labels smoothed towards the uniform distribution."""
    log_p = F.log_softmax(logits, axis=1)
    nll = -F.pick(log_p, labels, axis=1)
    if smoothing > 0:
        nll = (1.0 - smoothing) * nll - smoothing * F.mean(log_p, axis=1)
    return nll * F.take(weights, labels)


def train_network(args: argparse.Namespace, net, train_xy: batches.Encoded, val_xy: Optional[batches.Encoded],
                  seed: int, tag: str = "", widest: Optional[int] = None):
    """Adam with class-weighted, optionally smoothed cross-entropy and per-epoch learning-rate
    decay; early stopping on validation macro-F1. ``net`` takes a member's two inputs, cut
    for ``widest`` (``widest_filter``).

    Returns (progress, the parameters of the best epoch as numpy arrays)."""
    import mxnet as mx
    from mxnet import autograd, gluon

    names = [name for _, name in LABELS]
    weights = array(class_weights(train_xy.labels, args.class_weighting))
    trainer = gluon.Trainer(net.collect_params(), "adam",
                            {"learning_rate": args.learning_rate, "wd": args.weight_decay})
    order_rng = np.random.RandomState(seed)
    best: Dict[str, Any] = {"macro_f1": -1.0, "epoch": 0, "params": None}
    history: List[Dict[str, float]] = []  # per validation check, for metrics.json (the training report)
    checks = validation_checks(len(train_xy), args.batch_size, args.validation_rows if val_xy is not None else 0)
    # A refit's epochs may end in a fraction (the best check of a large epoch): its last epoch
    # stops after that share of its steps.
    epochs = int(math.ceil(args.epochs))
    last_steps = max(1, int(round((args.epochs - (epochs - 1)) * -(-len(train_xy) // args.batch_size))))
    check_xy = check_sample(val_xy, args.check_rows, args.seed) if val_xy is not None else None
    since_best = 0
    done = 0.0
    for epoch in range(1, epochs + 1):
        started, cpu_started = time.time(), time.process_time()
        trainer.set_learning_rate(args.learning_rate * args.lr_decay ** (epoch - 1))
        total_loss = mx.nd.zeros((1,), ctx=device())  # summed on the engine: no wait for each step
        rows = 0
        stop = False
        order = batches.batch_order(train_xy, args.batch_size, order_rng, args.length_sort_batches)
        for number, batch in enumerate(order, start=1):
            inputs, label = member_inputs(train_xy, batch, widest), array(train_xy.labels[batch])
            with autograd.record():
                loss = smoothed_loss(mx.nd, net(*inputs), label, weights, args.label_smoothing)
            loss.backward()
            trainer.step(len(batch))
            total_loss += loss.sum()
            rows += len(batch)
            refit_done = val_xy is None and epoch == epochs and number == last_steps
            if number not in checks and not refit_done:
                continue
            done = args.epochs if refit_done else epoch - 1 + checks[number]
            mean_loss = float(total_loss.asscalar()) / rows
            seconds, cpu_seconds = time.time() - started, time.process_time() - cpu_started
            if val_xy is None:  # a refit: a fixed number of epochs, the last one kept
                print("{}refit epoch={:g}; train_loss={:.4f}; seconds={:.1f};".format(tag, done, mean_loss, seconds),
                      flush=True)
                if refit_done:
                    break
                continue
            assert check_xy is not None  # set whenever val_xy is
            report = classification_report(check_xy.labels.astype(np.int64),
                                           predict_classes(net, check_xy, widest=widest), names)
            seconds, cpu_seconds = time.time() - started, time.process_time() - cpu_started
            history.append({"epoch": done, "train_loss": mean_loss, "validation_accuracy": report["accuracy"],
                            "validation_macro_f1": report["macro_f1"], "seconds": round(seconds, 3),
                            "cpu_seconds": round(cpu_seconds, 3)})
            print("{}epoch={}; train_loss={:.4f}; val_accuracy={:.4f}; val_macro_f1={:.4f}; seconds={:.1f}; "
                  "rows_per_second={:.0f};".format(tag, done, mean_loss, report["accuracy"], report["macro_f1"],
                                                   seconds, rows / max(seconds, 1e-9)), flush=True)
            started, cpu_started, rows = time.time(), time.process_time(), 0
            total_loss = mx.nd.zeros((1,), ctx=device())
            if report["macro_f1"] > best["macro_f1"]:
                best = {"macro_f1": report["macro_f1"], "epoch": done,
                        # numpy copies: oneDNN may hold parameters in a layout set_data cannot restore.
                        "params": {name: param.data().asnumpy() for name, param in net.collect_params().items()}}
                since_best = 0
                continue
            since_best += 1
            if since_best >= args.patience:
                print("{}early stop: validation macro-F1 has not improved for {} checks".format(tag, args.patience),
                      flush=True)
                stop = True
                break
        if stop:
            break
    if val_xy is None:
        return {"epochs_run": done}, {name: param.data().asnumpy() for name, param in net.collect_params().items()}
    return ({"best_epoch": best["epoch"], "epochs_run": done, "val_macro_f1": best["macro_f1"], "history": history},
            best["params"])


def check_sample(val_xy: batches.Encoded, rows: int, seed: int) -> batches.Encoded:
    """What an early-stopping check scores: the validation side, or when it has more than
    ``rows`` rows (and ``rows`` > 0) a fixed random ``rows`` of them. At the full dataset's size
    a check used to score all 42,299 validation rows after each 20,000 training rows; 10,000
    rows measure accuracy to about +-0.003 (one standard error)."""
    if rows <= 0 or len(val_xy) <= rows:
        return val_xy
    return batches.take(val_xy, np.sort(np.random.RandomState(seed).choice(len(val_xy), rows, replace=False)))


def validation_checks(rows: int, batch_size: int, validation_rows: int) -> Dict[int, float]:
    """After which batch of an epoch to score the validation side, and the share of the epoch
    done then (an int 1 at the epoch's end): once per epoch, or about every ``validation_rows``
    rows of a large epoch, so that early stopping counts in data seen, not in whole passes."""
    steps = max(1, -(-rows // batch_size))
    per_epoch = max(1, min(steps, int(round(rows / validation_rows)))) if validation_rows > 0 else 1
    if per_epoch == 1:
        return {steps: 1}
    return {int(round(steps * part / per_epoch)): round(part / per_epoch, 2) for part in range(1, per_epoch + 1)}


def train_member(args: argparse.Namespace, vocab: Vocabulary, kind: str, member: int, train_xy, val_xy,
                 vectors: Dict[str, np.ndarray], tag: str, embeddings: Dict[int, np.ndarray],
                 views: Dict[int, np.ndarray], epochs: Optional[float] = None):
    """One member of the ensemble, from its own seed; with ``val_xy`` None, a refit of
    ``epochs`` epochs. ``embeddings`` (CNN word vectors) and ``views`` (a linear member's
    buckets) are filled on first use and reused by the refit. Returns (progress, parameters)."""
    member_seed = args.seed + member
    seed_everything(member_seed)
    settings = member_args(args, kind, len(train_xy))
    print("{}batch_size={}; learning_rate={:.6g};".format(tag, settings.batch_size, settings.learning_rate),
          flush=True)
    if epochs is not None:
        settings = argparse.Namespace(**dict(vars(settings), epochs=epochs))
    if kind == "linear":
        values = {"linear{}_idf_weight".format(member): inverse_document_frequency(train_xy, vocab, views[member])}
        net = fresh_network(args, vocab, values, member=member, two_inputs=widest_filter(args, kind) is not None)
    else:
        if member not in embeddings:
            embeddings[member] = embedding_matrix(vocab, vectors, args.vector_dim, member_seed)[0]
        net = fresh_network(args, vocab, {}, member=member, embedding=embeddings[member],
                            two_inputs=widest_filter(args, kind) is not None)
        if args.model == "seed" or not args.fine_tune_embeddings:
            net.embedding.weight.grad_req = "null"
    return train_network(settings, net, train_xy, val_xy, member_seed, tag, widest_filter(args, kind))


def export_artifact(args, net, vocab: Vocabulary, metrics: Dict[str, object]) -> str:
    """Writes the model artifact layout into the model directory; returns the model version."""
    os.makedirs(args.model_dir, exist_ok=True)
    net.export(os.path.join(args.model_dir, "model"), epoch=0)
    with open(os.path.join(args.model_dir, "model-0000.params"), "rb") as handle:
        version = hashlib.sha256(handle.read()).hexdigest()[:16]
    metrics["model_version"] = version
    documents = {
        "vocab.json": vocab.to_json(),
        "labels.json": {"labels": [{"code": code, "name": name} for code, name in LABELS]},
        "metrics.json": metrics,
    }
    for name, document in documents.items():
        with open(os.path.join(args.model_dir, name), "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1, sort_keys=True)
    code_dir = os.path.join(args.model_dir, "code")
    os.makedirs(code_dir, exist_ok=True)
    source_dir = os.path.dirname(os.path.abspath(headline_text.__file__))
    for name in CODE_FILES:
        shutil.copyfile(os.path.join(source_dir, name), os.path.join(code_dir, name))
    return version


def run(args: argparse.Namespace) -> Dict[str, object]:
    started = time.time()
    loaded = load_headlines(args.train)
    test_rows = load_headlines(args.test).rows if args.test else None
    split = make_split(loaded.rows, args.split, args.validation_fraction, args.test_fraction, args.seed, test_rows)
    print("device: {}; OMP_NUM_THREADS={}".format(device(), os.environ.get("OMP_NUM_THREADS", "MXNet's default")),
          flush=True)
    print("data: {} rows ({} skipped, {}); train {} / validation {} / test {} ({}); train classes {}".format(
        len(loaded.rows), loaded.skipped, loaded.source_format, len(split.train), len(split.validation),
        len(split.test), "given file" if test_rows is not None else "{} split".format(args.split),
        label_counts(split.train)), flush=True)

    vectors, vector_words = read_vectors(args.embeddings, args.vector_dim)
    vocab = build_vocabulary(split.train, vectors, args)
    print("vocabulary: {} tokens, {} with pretrained vectors (of {} in the file){}".format(
        len(vocab), sum(1 for token in vocab.tokens if token in vectors), vector_words,
        "; hashed n-grams: {} buckets, {} per headline".format(vocab.ngrams.buckets, vocab.ngrams.max_ngrams)
        if vocab.ngrams else ""), flush=True)

    kinds = member_kinds(args)
    linear_members = [member for member, kind in enumerate(kinds) if kind == "linear"]
    hashers = batches.view_hashers(vocab, [linear_view(args, member) for member in linear_members])
    train_xy, seen = encode(split.train, vocab, hashers)
    # A refit trains on the validation rows too: their encoding pass also finds their buckets.
    val_xy, val_seen = encode(split.validation, vocab, hashers if args.refit else None)
    test_xy = encode(split.test, vocab)[0]
    views = linear_buckets(split.train, vocab, args, linear_members, seen)
    print("encoded: {:.1f} s since the start".format(time.time() - started), flush=True)
    members = []
    history: Dict[str, List[Dict[str, float]]] = {}
    best_params: Dict[str, np.ndarray] = {}
    embeddings: Dict[int, np.ndarray] = {}
    for member, kind in enumerate(kinds):
        tag = "member={}; ".format(member) if len(kinds) > 1 else ""
        progress, params = train_member(args, vocab, kind, member, train_xy, val_xy, vectors, tag, embeddings,
                                        views)
        name = member_name(kind, member)
        history[name] = progress.pop("history")
        members.append(dict(progress, kind=kind, name=name))
        best_params.update(params)
    found = sum(1 for token in vocab.tokens if token in vectors)
    progress = {"members": members, "best_epoch": members[0]["best_epoch"], "epochs_run": members[0]["epochs_run"],
                "member_weights": member_weights(args, kinds)}
    # MXNet 1.9 + oneDNN cannot run inference on a trained network whose parameters were
    # replaced ("to.IsDefaultData()"), so the best epochs go into a fresh network.
    net = fresh_network(args, vocab, best_params)
    names = [name for _, name in LABELS]
    validation = classification_report(val_xy.labels.astype(np.int64), predict_classes(net, val_xy), names)
    if args.refit:
        both_xy = batches.concatenate(train_xy, val_xy)
        # The validation rows are training rows now: a linear member reads their n-grams too.
        val_views = linear_buckets(split.validation, vocab, args, linear_members, val_seen)
        views = {member: view | val_views[member] for member, view in views.items()}
        refit_params: Dict[str, np.ndarray] = {}
        for member, kind in enumerate(kinds):
            tag = "member={}; ".format(member) if len(kinds) > 1 else ""
            # As many epochs as the best check had seen (a fraction of a large one).
            epochs = max(members[member]["best_epoch"], 0.01)
            _, params = train_member(args, vocab, kind, member, both_xy, None, vectors, tag, embeddings, views,
                                     epochs)
            refit_params.update(params)
        net = fresh_network(args, vocab, refit_params)
    del vectors

    test = classification_report(test_xy.labels.astype(np.int64), predict_classes(net, test_xy), names)
    metrics = {
        "accuracy": test["accuracy"],
        "macro_f1": test["macro_f1"],
        "test": test,
        "validation": validation,
        "model": args.model,
        "hyperparameters": hyperparameters(args),
        "data": {"rows": len(loaded.rows), "skipped": loaded.skipped, "format": loaded.source_format,
                 "split": args.split, "test_source": "file" if test_rows is not None else "held-out stories",
                 "train": len(split.train), "validation": len(split.validation), "test": len(split.test),
                 "refit_on_train_and_validation": bool(args.refit),
                 # what the served model learnt from (the refit adds the validation rows): the
                 # drift check's baseline (functions/api/drift.py)
                 "category_mix": category_mix(list(split.train) + (list(split.validation) if args.refit else []))},
        "vocabulary": {"tokens": len(vocab), "with_pretrained_vectors": found},
        "training": dict(progress, seconds=round(time.time() - started, 1), device=str(device())),
        "history": history,
        "test_rows": rows_checksum(split.test),
    }
    champion = score_champion(args.champion, split.test)
    if champion is not None:
        metrics["champion"] = champion
    try:
        export_artifact(args, net, vocab, metrics)
    except Exception as error:  # OSError, or MXNet's "FileStream.Write incomplete" on a full disk
        # MXNet's message is its C++ trace; the last line says what failed.
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise ArtifactError("cannot write the model to {}: {}".format(
            args.model_dir, lines[-1] if lines else type(error).__name__)) from error
    print(metric_line("test", {"accuracy": test["accuracy"], "macro_f1": test["macro_f1"]}), flush=True)
    if champion is not None:
        print(metric_line("champion", {"accuracy": float(champion["accuracy"]), "macro_f1": float(champion["macro_f1"])}),
              flush=True)
    return metrics


def fresh_network(args: argparse.Namespace, vocab: Vocabulary, values: Dict[str, np.ndarray],
                  member: Optional[int] = None, embedding: Optional[np.ndarray] = None, two_inputs: bool = False):
    """A hybridized network: member number ``member`` of the ensemble, or (None) the whole
    ensemble. ``values`` sets parameters by name, ``embedding`` a member's word embedding
    weights; the rest are initialised from the current seed. ``two_inputs``: a member that
    takes the word indices and the n-gram ids apart (training), not the exported one input."""
    import mxnet as mx
    from model import Ensemble, build_model

    kinds = member_kinds(args)

    def one(number: int):
        return build_model(kinds[number], len(vocab), args.vector_dim, len(LABELS), args.max_len,
                           kernel_sizes=args.kernel_sizes, num_filters=args.num_filters,
                           dropout=args.dropout, embed_dropout=args.embed_dropout,
                           ngram_buckets=args.ngram_buckets if uses_ngrams(args) else 0,
                           ngram_dim=args.ngram_dim, member=number)

    if member is None:
        net = Ensemble([one(number) for number in range(len(kinds))], member_weights(args, kinds),
                       prefix="ensemble_")
    else:
        net = one(member)
    net.initialize(mx.init.Xavier(), ctx=device())
    params = net.collect_params()
    missing = sorted(set(values) - set(params.keys()))
    if missing:
        raise ValueError("no such parameters in the network: {}".format(", ".join(missing)))
    for name, param in params.items():
        if name in values:
            param.set_data(array(values[name]))
    if embedding is not None:
        net.embedding.weight.set_data(array(embedding))
    net.hybridize()
    # oneDNN: when the first hybridized call records gradients, later inference calls fail;
    # one inference call first avoids it.
    if two_inputs:
        net(array(np.zeros((2, vocab.max_len))), array(np.zeros((2, vocab.ngrams.max_ngrams if vocab.ngrams else 1))))
    else:
        net(array(np.zeros((2, vocab.width))))
    return net


def hyperparameters(args: argparse.Namespace) -> Dict[str, object]:
    skip = {"model_dir", "train", "embeddings", "test", "champion"}
    return {key: (list(value) if isinstance(value, tuple) else value)
            for key, value in sorted(vars(args).items()) if key not in skip}


def _write_failure(message: str) -> None:
    """SageMaker shows /opt/ml/output/failure as the job's FailureReason."""
    output_data = os.environ.get("SM_OUTPUT_DATA_DIR")
    if output_data:
        try:
            with open(os.path.join(os.path.dirname(output_data.rstrip("/")), "failure"), "w") as handle:
                handle.write(message)
        except OSError:
            pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    set_cpu_threads()
    args = parse_args(argv)
    try:
        run(args)
    except (DataError, ArtifactError) as error:
        message = "error: {}".format(error)
        print(message, file=sys.stderr, flush=True)
        _write_failure(message)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
