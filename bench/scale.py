"""Training at the real dataset's size: rows/s per epoch, peak memory, projected job times.

Builds an N-row file in the sample's format (UCI's tab-separated ``newsCorpora.csv``) from the
10,854-row sample without exact duplicates: copy k of a row keeps its label and STORY (so the
story split keeps every copy on one side) and gets a distinct ID and a title variant (copy 0 is
the row as is; later copies end in a spelled-out copy marker, a few extra words). Then runs
train.py on it the way SageMaker does (SM_* variables, ``--name value`` arguments, cdk.json's
classifier hyperparameters plus ``-H`` overrides), polls the peak resident memory of its whole
process tree from /proc, and prints, from metrics.json's history:

- rows per second of every epoch of every member (training rows / epoch seconds; the epoch
  seconds include scoring the validation side), and rows per CPU-second of the process (less
  sensitive to other load on a shared machine: compare both);
- the peak RSS, the load average (the machine is shared: compare figures of one period);
- the projected time for the full dataset (422,937 rows) here and on the configured training
  instance types: PROJECTIONS from this run's rows/s, scaled linearly in rows and by the
  instance factors of headlines/training_time.py, not measurements.

    python bench/scale.py --rows 108000 [--vectors DIR] [-H name=value ...] [--keep DIR]
    python bench/scale.py --rows 108000 --make-only FILE     # only write the N-row file
    python bench/scale.py --rows 40000 --train-py OLD/training/train.py --hyperparameters-from OLD/cdk.json
"""
import argparse
import gzip
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from headlines.config import load_config  # noqa: E402
from headlines.local.pipeline import hyperparameter_arguments  # noqa: E402
from headlines.training_time import FULL_DATASET_ROWS, project_seconds  # noqa: E402

SAMPLE = REPO / "headlines" / "sample_data" / "newsCorpora-sample.csv.gz"
SHARED_SAMPLE = REPO.parent / "shared" / "data" / "news" / "newsCorpora-sample.csv"
_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def sample_lines() -> List[str]:
    path = SHARED_SAMPLE if SHARED_SAMPLE.is_file() else SAMPLE
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:  # type: ignore[operator]
        return [line.rstrip("\r\n") for line in handle if line.count("\t") == 7]


def copy_marker(copy: int) -> str:
    """Words that make copy ``copy`` of a title distinct ("" for the original)."""
    if copy == 0:
        return ""
    return " - " + " ".join(_ONES[int(digit)] for digit in str(copy))


def scaled_rows(rows: int) -> Iterator[str]:
    """``rows`` lines in newsCorpora.csv's format, no two identical (IDs and titles differ)."""
    lines = sample_lines()
    for number in range(rows):
        copy, index = divmod(number, len(lines))
        fields = lines[index].split("\t")
        fields[0] = str(number + 1)
        fields[1] = fields[1] + copy_marker(copy)
        yield "\t".join(fields)


def write_rows(path: Path, rows: int) -> None:
    partial = path.with_name(path.name + ".partial")  # never a partial file under the final name
    with open(partial, "w", encoding="utf-8", newline="") as handle:
        for line in scaled_rows(rows):
            handle.write(line + "\n")
    os.replace(partial, path)


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (Linux /proc; stdlib only)."""
    children: Dict[int, List[int]] = {}
    rss: Dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/{}/stat".format(entry)) as handle:
                stat = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(stat[1]), []).append(int(entry))
        rss[int(entry)] = int(stat[21]) * page
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo.extend(children.get(current, []))
    return total


def run_measured(command: List[str], env: Dict[str, str], log: Path) -> Dict[str, float]:
    """Runs ``command``, its output to ``log``; wall seconds and peak RSS of its process tree."""
    started = time.time()
    peak = 0
    with open(log, "w") as handle:
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
        while process.poll() is None:
            peak = max(peak, tree_rss(process.pid))
            time.sleep(0.2)
    if process.returncode != 0:
        tail = log.read_text().strip().splitlines()[-3:]
        raise SystemExit("error: train.py failed ({}): {}".format(process.returncode, " | ".join(tail)))
    return {"seconds": time.time() - started, "peak_rss": peak}


def load_text() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def parse_overrides(pairs: List[str]) -> Dict[str, str]:
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit("error: -H takes name=value, got '{}'".format(pair))
        overrides[name.strip()] = value.strip()
    return overrides


def epoch_rates(checks: List[Dict[str, float]], train_rows: int) -> Tuple[List[float], List[float]]:
    """(rows/s, rows per CPU-second) of each whole epoch of a member's history. A large epoch is
    scored on the validation side several times (``validation_rows``): its checks' seconds add
    up to the epoch's, and a last, partial epoch (early stopping) counts its share of the rows."""
    epochs: Dict[int, List[float]] = {}
    done = 0.0
    for check in checks:
        number = int(math.ceil(check["epoch"] - 1e-9))
        totals = epochs.setdefault(number, [0.0, 0.0, 0.0])  # share of the rows, wall s, CPU s
        totals[0] += check["epoch"] - done
        totals[1] += check["seconds"]
        totals[2] += check.get("cpu_seconds", 0.0)
        done = check["epoch"]
    rates = [train_rows * share / max(wall, 1e-9) for share, wall, _ in epochs.values()]
    cpu_rates = [train_rows * share / cpu for share, _, cpu in epochs.values() if cpu > 0]
    return rates, cpu_rates


def report(metrics: Dict[str, object], measured: Dict[str, float], rows: int) -> List[str]:
    data = metrics["data"]  # type: ignore[index]
    train_rows = int(data["train"])  # type: ignore[index]
    lines = ["", "{} rows: train {} / validation {} / test {}; {}".format(
        rows, train_rows, data["validation"], data["test"], load_text())]  # type: ignore[index]
    epoch_seconds = 0.0
    for name, checks in metrics["history"].items():  # type: ignore[union-attr]
        rates, cpu_rates = epoch_rates(checks, train_rows)
        epoch_seconds += sum(check["seconds"] for check in checks)
        lines.append("  {:<9} {} epochs, rows/s per epoch: {}; rows per CPU-second: {}".format(
            name, len(rates), " ".join("{:,.0f}".format(rate) for rate in rates),
            " ".join("{:,.0f}".format(rate) for rate in cpu_rates) or "-"))
    wall = measured["seconds"]
    lines.append("  train.py: {:.1f} s wall ({:.1f} s in epochs, {:.1f} s reading, encoding, scoring, exporting); "
                 "peak RSS of the process tree {:.2f} GiB".format(wall, epoch_seconds, wall - epoch_seconds,
                                                                   measured["peak_rss"] / 2 ** 30))
    config = load_config()
    lines.append("  PROJECTIONS for the full dataset ({:,} rows), linear in rows from this run, same epochs:".format(
        FULL_DATASET_ROWS))
    for label, instance in (("this machine", None), ("classifier instance", config.classifier.instance_type),
                            ("GPU instance", getattr(config.classifier, "gpu_instance_type", "ml.g4dn.xlarge"))):
        seconds = project_seconds(wall, rows, FULL_DATASET_ROWS, instance)
        lines.append("    {:<20} {:<16} ~{:,.0f} s ({:.1f} min)".format(label, instance or "(2 vCPU)", seconds,
                                                                       seconds / 60))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=108000, help="rows of the generated file")
    parser.add_argument("--make-only", type=Path, metavar="FILE", help="write the N-row file there and stop")
    parser.add_argument("--vectors", type=Path, help="word vectors (a folder with vectors.txt); "
                        "default: train them with the embeddings step on the shipped corpus")
    parser.add_argument("-H", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="classifier hyperparameter over cdk.json's (repeatable)")
    parser.add_argument("--train-py", type=Path, default=REPO / "training" / "train.py",
                        help="the train.py to run (to compare two versions in one period)")
    parser.add_argument("--hyperparameters-from", type=Path, metavar="CDK_JSON",
                        help="classifier hyperparameters of another cdk.json (with --train-py of that version: "
                             "an older train.py rejects names it does not know)")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one)")
    args = parser.parse_args()
    if args.rows < 100:
        parser.error("--rows: at least 100")
    if args.make_only:
        write_rows(args.make_only, args.rows)
        print("wrote {} rows to {}".format(args.rows, args.make_only))
        return 0

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "newsCorpora-{}.csv".format(args.rows)
    write_rows(data, args.rows)
    config = load_config()
    embeddings_hp = dict(config.embeddings.hyperparameters)
    vectors = args.vectors
    if vectors is None:
        from headlines.local.embeddings import train_embeddings

        vectors = workdir / "embeddings"
        corpus = REPO / "headlines" / "sample_data" / "corpus-public-domain.txt.gz"
        train_embeddings(corpus, vectors, embeddings_hp, workers=1)
    classifier_hp = config.classifier.hyperparameters
    if args.hyperparameters_from:
        other = json.loads(args.hyperparameters_from.read_text(encoding="utf-8"))
        classifier_hp = other["context"]["headlines"]["classifier"]["hyperparameters"]
    hyperparameters = dict(classifier_hp, vector_dim=embeddings_hp.get("vector_dim", 100))
    hyperparameters.update(parse_overrides(args.overrides))
    from headlines.local import container_env

    python = str(container_env.python())  # the SageMaker-shaped Python 3.8 (MXNet 1.9)
    command = [python, str(args.train_py), *hyperparameter_arguments(hyperparameters)]
    model_dir = workdir / "model"
    env = dict(os.environ, SM_CHANNEL_TRAIN=str(data), SM_CHANNEL_EMBEDDINGS=str(vectors),
               SM_MODEL_DIR=str(model_dir), SM_OUTPUT_DATA_DIR=str(workdir / "output"), PYTHONUNBUFFERED="1")
    print("data: {} ({} rows); {}\ntrain.py {}".format(data, args.rows, load_text(), " ".join(command[2:])),
          flush=True)
    measured = run_measured(command, env, workdir / "train.log")
    metrics = json.loads((model_dir / "metrics.json").read_text())
    print("\n".join(report(metrics, measured, args.rows)), flush=True)
    print("  test accuracy {:.4f}, macro-F1 {:.4f} (copies of the sample: not a quality figure)".format(
        metrics["accuracy"], metrics["macro_f1"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
