"""Training's encoding: today's code beside an older commit's (by default 0fbf72d, before issue
25), on an N-row file in the sample's format (bench/scale.py's copies of the sample).

Each version runs in the training image's Python (``.venv-sagemaker``: 3.8, numpy 1.19.5) with
its own training/ and inference/ folders, and does what train.py's ``run`` does before the
first epoch: the story split, the vocabulary (cdk.json's hyperparameters, no word vectors), and
the encoding of the training rows (with the linear members' views), the validation rows (with
them too: refit) and the test rows. Prints the seconds of each step, rows/s, and a digest of
the encoded arrays: the two versions' must be equal (the models they train are then the same).

    python bench/encoding.py [--rows 108000] [--baseline REV|none] [--repeat 2]
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
BASELINE = "0fbf72d"  # the code before issue 25 (fast answers)


def stage_main(code: str, data: str) -> None:
    """In the training Python, with ``code``'s modules: the timings and digest as one JSON line."""
    sys.path[:0] = [os.path.join(code, "training"), os.path.join(code, "inference")]
    import batches
    import train
    from members import linear_view, member_kinds
    from news_data import load_headlines, make_split

    args = train.parse_args(["--train", data, "--embeddings", "unused"])
    rows = load_headlines(data).rows
    split = make_split(rows, args.split, args.validation_fraction, args.test_fraction, args.seed, None)
    timings = {}
    started = time.perf_counter()
    vocab = train.build_vocabulary(split.train, {}, args)
    timings["vocabulary"] = time.perf_counter() - started
    kinds = member_kinds(args)
    views = batches.view_hashers(vocab, [linear_view(args, member) for member, kind in enumerate(kinds)
                                         if kind == "linear"])
    digest = hashlib.sha256()
    for name, part, part_views in (("train", split.train, views), ("validation", split.validation, views),
                                   ("test", split.test, None)):
        started = time.perf_counter()
        encoded, seen = train.encode(part, vocab, part_views)
        timings[name] = time.perf_counter() - started
        for array in (encoded.tokens, encoded.ngram_ids, encoded.ngram_offsets, *seen):
            digest.update(array.astype(array.dtype.newbyteorder("<")).tobytes())
    print(json.dumps({"rows": len(rows), "seconds": timings, "digest": digest.hexdigest()}), flush=True)


def run_stage(python: str, code: Path, data: Path) -> Dict[str, object]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    result = subprocess.run([python, __file__, "--stage", str(code), str(data)], capture_output=True, text=True,
                            env=env, timeout=3600)
    if result.returncode != 0:
        raise SystemExit("error: the encoding stage failed: " + result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: List[str]) -> int:
    if argv[:1] == ["--stage"]:
        stage_main(argv[1], argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=108000, help="rows of the generated file (default 108,000)")
    parser.add_argument("--baseline", default=BASELINE,
                        help=f"the older code: a git revision (default {BASELINE}, before issue 25), or 'none'")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each version, alternating (default 1)")
    args = parser.parse_args(argv)
    sys.path[:0] = [str(REPO), str(REPO / "bench")]  # this Python only: the stages run in the training one
    from scale import write_rows
    from serving import checkout

    from headlines.local import container_env

    python = str(container_env.python())
    with tempfile.TemporaryDirectory(prefix="bench-encoding-") as work:
        data = Path(work) / "newsCorpora.csv"
        write_rows(data, args.rows)
        versions = [("new", REPO)]
        if args.baseline != "none":
            versions.insert(0, (f"old {args.baseline}", checkout(args.baseline, Path(work) / "baseline")))
        print(f"{args.rows:,} rows, training Python {python}; load average "
              f"{' '.join(f'{value:.2f}' for value in os.getloadavg())}")
        totals: Dict[str, List[float]] = {}
        digests = set()
        for _ in range(args.repeat):
            for name, code in versions:
                result = run_stage(python, code, data)
                seconds: Dict[str, float] = result["seconds"]  # type: ignore[assignment]
                encoding = sum(seconds.values())
                totals.setdefault(name, []).append(encoding)
                digests.add(result["digest"])
                print(f"  {name:<12} " + ", ".join(f"{step} {value:.2f} s" for step, value in seconds.items())
                      + f"; encoding {encoding:.2f} s, {args.rows / encoding:,.0f} rows/s; arrays {result['digest'][:16]}",
                      flush=True)
        print(f"load average after: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
        if len(versions) == 2:
            old, new = (min(totals[name]) for name, _ in versions)
            print(f"best of {args.repeat}: {old:.2f} s -> {new:.2f} s, {old / new:.1f}x faster; "
                  f"encoded arrays {'identical' if len(digests) == 1 else 'DIFFERENT'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
