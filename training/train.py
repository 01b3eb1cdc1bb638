"""Trains the headline classifier: SageMaker script-mode entry point (runs on Python 3.8).

SageMaker passes hyperparameters as ``--name value`` arguments and data locations as
``SM_CHANNEL_*`` environment variables; the local pipeline runs this same file with the same
variables. Output (the model artifact contract, see README): in ``SM_MODEL_DIR``,
``model-symbol.json``, ``model-0000.params``, ``vocab.json``, ``labels.json``,
``metrics.json`` and ``code/`` (the serving entry point and the text module it imports).
Metrics are printed as ``name=value;`` lines for SageMaker metric definitions.
"""
import argparse
import hashlib
import json
import logging
import os
import random
import shutil
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
# In the sourcedir tarball every module sits beside this file; in the repository the text
# module lives in inference/ (it ships with the serving code).
sys.path.append(os.path.join(HERE, os.pardir, "inference"))

import numpy as np  # noqa: E402

import headline_text  # noqa: E402
from headline_text import PAD_INDEX, Vocabulary  # noqa: E402
from metrics import classification_report  # noqa: E402
from news_data import LABELS, DataError, Headline, label_counts, load_headlines, make_split  # noqa: E402
from word_vectors import read_vectors  # noqa: E402

LOG = logging.getLogger("train")
CODE_FILES = ("inference.py", "headline_text.py")


def _bool(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError("expected true or false, got {}".format(value))


def _ints(value: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in value.split(",") if part.strip())


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    # Hyperparameters (SageMaker passes them by these names).
    add("--model", default="textcnn", choices=("textcnn", "seed"))
    add("--epochs", type=int, default=12)
    add("--batch_size", type=int, default=64)
    add("--learning_rate", type=float, default=0.002)
    add("--weight_decay", type=float, default=0.0)
    add("--seed", type=int, default=42)
    add("--split", default="story", choices=("story", "random_leaky"))
    add("--validation_fraction", type=float, default=0.1)
    add("--test_fraction", type=float, default=0.15)
    add("--max_len", type=int, default=32)
    add("--vector_dim", type=int, default=100, help="must match the word vectors' dimension")
    add("--kernel_sizes", type=_ints, default=(1, 2, 3, 4))
    add("--num_filters", type=int, default=128)
    add("--dropout", type=float, default=0.5)
    add("--patience", type=int, default=3, help="epochs without validation macro-F1 gain before stopping")
    add("--fine_tune_embeddings", type=_bool, default=True)
    add("--class_weighting", default="balanced", choices=("balanced", "none"))
    add("--extra_vocab", type=int, default=20000,
        help="also keep the N most frequent words of the word vectors (headline words unseen in training)")
    # Locations (SageMaker's environment variables; overridable for local runs).
    add("--model-dir", dest="model_dir", default=os.environ.get("SM_MODEL_DIR", "model"))
    add("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    add("--embeddings", default=os.environ.get("SM_CHANNEL_EMBEDDINGS"))
    add("--test", default=os.environ.get("SM_CHANNEL_TEST"), help="score on this file instead of a held-out split")
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        LOG.warning("ignoring unknown arguments: %s", " ".join(unknown))
    if not args.train:
        parser.error("no training data: set SM_CHANNEL_TRAIN or pass --train")
    if not args.embeddings:
        parser.error("no word vectors: set SM_CHANNEL_EMBEDDINGS or pass --embeddings")
    return args


def seed_everything(seed: int) -> None:
    import mxnet as mx

    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def build_vocabulary(train: List[Headline], vectors: Dict[str, np.ndarray], args: argparse.Namespace) -> Vocabulary:
    frequent_vector_words = list(vectors)[: args.extra_vocab]
    return Vocabulary.build((row.title for row in train), args.max_len, keep=frequent_vector_words)


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


def encode(rows: Sequence[Headline], vocab: Vocabulary) -> Tuple[np.ndarray, np.ndarray]:
    codes = [code for code, _ in LABELS]
    tokens = np.asarray([vocab.encode(row.title) for row in rows], dtype=np.float32)
    labels = np.asarray([codes.index(row.label) for row in rows], dtype=np.float32)
    return tokens, labels


def predict_classes(net, tokens: np.ndarray, batch: int = 512) -> np.ndarray:
    import mxnet as mx

    outputs = [net(mx.nd.array(tokens[start:start + batch])).argmax(axis=1).asnumpy()
               for start in range(0, len(tokens), batch)]
    return np.concatenate(outputs).astype(np.int64)


def class_weights(labels: np.ndarray, mode: str) -> np.ndarray:
    n_classes = len(LABELS)
    if mode == "none":
        return np.ones(n_classes, dtype=np.float32)
    counts = np.bincount(labels.astype(np.int64), minlength=n_classes).astype(np.float32)
    return (counts.sum() / (n_classes * np.maximum(counts, 1.0))).astype(np.float32)


def metric_line(prefix: str, values: Dict[str, float]) -> str:
    return " ".join("{}_{}={:.4f};".format(prefix, name, value) for name, value in values.items())


def train_network(args: argparse.Namespace, net, train_xy, val_xy):
    """Adam with class-weighted cross-entropy; early stopping on validation macro-F1.

    Returns (progress, the parameters of the best epoch as numpy arrays)."""
    import mxnet as mx
    from mxnet import autograd, gluon

    names = [name for _, name in LABELS]
    train_x, train_y = train_xy
    weights = mx.nd.array(class_weights(train_y, args.class_weighting))
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "adam",
                            {"learning_rate": args.learning_rate, "wd": args.weight_decay})
    order_rng = np.random.RandomState(args.seed)
    best = {"macro_f1": -1.0, "epoch": 0, "params": None}
    for epoch in range(1, args.epochs + 1):
        started = time.time()
        order = order_rng.permutation(len(train_x))
        total_loss = 0.0
        for start in range(0, len(order), args.batch_size):
            batch = order[start:start + args.batch_size]
            data, label = mx.nd.array(train_x[batch]), mx.nd.array(train_y[batch])
            with autograd.record():
                loss = loss_fn(net(data), label, mx.nd.take(weights, label).reshape((-1, 1)))
            loss.backward()
            trainer.step(len(batch))
            total_loss += float(loss.sum().asscalar())
        report = classification_report(val_xy[1].astype(np.int64), predict_classes(net, val_xy[0]), names)
        print("epoch={}; train_loss={:.4f}; val_accuracy={:.4f}; val_macro_f1={:.4f}; seconds={:.1f};".format(
            epoch, total_loss / len(order), report["accuracy"], report["macro_f1"], time.time() - started), flush=True)
        if report["macro_f1"] > best["macro_f1"]:
            best = {"macro_f1": report["macro_f1"], "epoch": epoch,
                    # numpy copies: oneDNN may hold parameters in a layout set_data cannot restore.
                    "params": {name: param.data().asnumpy() for name, param in net.collect_params().items()}}
        elif epoch - best["epoch"] >= args.patience:
            print("early stop: validation macro-F1 has not improved for {} epochs".format(args.patience), flush=True)
            break
    return {"best_epoch": best["epoch"], "epochs_run": epoch}, best["params"]


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
    import mxnet as mx

    started = time.time()
    seed_everything(args.seed)
    loaded = load_headlines(args.train)
    test_rows = load_headlines(args.test).rows if args.test else None
    split = make_split(loaded.rows, args.split, args.validation_fraction, args.test_fraction, args.seed, test_rows)
    print("data: {} rows ({} skipped, {}); train {} / validation {} / test {} ({}); train classes {}".format(
        len(loaded.rows), loaded.skipped, loaded.source_format, len(split.train), len(split.validation),
        len(split.test), "given file" if test_rows is not None else "{} split".format(args.split),
        label_counts(split.train)), flush=True)

    vectors, vector_words = read_vectors(args.embeddings, args.vector_dim)
    vocab = build_vocabulary(split.train, vectors, args)
    matrix, found = embedding_matrix(vocab, vectors, args.vector_dim, args.seed)
    del vectors
    print("vocabulary: {} tokens, {} with pretrained vectors (of {} in the file)".format(
        len(vocab), found, vector_words), flush=True)

    net = fresh_network(args, len(vocab), {"embedding": matrix})
    if args.model == "seed" or not args.fine_tune_embeddings:
        net.embedding.weight.grad_req = "null"

    train_xy, val_xy, test_xy = encode(split.train, vocab), encode(split.validation, vocab), encode(split.test, vocab)
    progress, best_params = train_network(args, net, train_xy, val_xy)
    # MXNet 1.9 + oneDNN cannot run inference on a trained network whose parameters were
    # replaced ("to.IsDefaultData()"), so the best epoch goes into a fresh network.
    net = fresh_network(args, len(vocab), best_params)

    names = [name for _, name in LABELS]
    test = classification_report(test_xy[1].astype(np.int64), predict_classes(net, test_xy[0]), names)
    validation = classification_report(val_xy[1].astype(np.int64), predict_classes(net, val_xy[0]), names)
    metrics = {
        "accuracy": test["accuracy"],
        "macro_f1": test["macro_f1"],
        "test": test,
        "validation": validation,
        "model": args.model,
        "hyperparameters": hyperparameters(args),
        "data": {"rows": len(loaded.rows), "skipped": loaded.skipped, "format": loaded.source_format,
                 "split": args.split, "test_source": "file" if test_rows is not None else "held-out stories",
                 "train": len(split.train), "validation": len(split.validation), "test": len(split.test)},
        "vocabulary": {"tokens": len(vocab), "with_pretrained_vectors": found},
        "training": dict(progress, seconds=round(time.time() - started, 1)),
    }
    export_artifact(args, net, vocab, metrics)
    print(metric_line("test", {"accuracy": test["accuracy"], "macro_f1": test["macro_f1"]}), flush=True)
    return metrics


def fresh_network(args: argparse.Namespace, vocab_size: int, values: Dict[str, np.ndarray]):
    """A hybridized network; ``values`` sets parameters by name ("embedding" for the
    embedding weights), the rest are initialised from the seed."""
    import mxnet as mx
    from model import build_model

    net = build_model(args.model, vocab_size, args.vector_dim, len(LABELS),
                      args.kernel_sizes, args.num_filters, args.dropout)
    net.initialize(mx.init.Xavier(), ctx=mx.cpu())
    for name, param in net.collect_params().items():
        if name in values:
            param.set_data(mx.nd.array(values[name]))
    if "embedding" in values:
        net.embedding.weight.set_data(mx.nd.array(values["embedding"]))
    net.hybridize()
    # oneDNN: when the first hybridized call records gradients, later inference calls fail;
    # one inference call first avoids it.
    net(mx.nd.zeros((2, args.max_len)))
    return net


def hyperparameters(args: argparse.Namespace) -> Dict[str, object]:
    skip = {"model_dir", "train", "embeddings", "test"}
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
    args = parse_args(argv)
    try:
        run(args)
    except DataError as error:
        message = "error: {}".format(error)
        print(message, file=sys.stderr, flush=True)
        _write_failure(message)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
