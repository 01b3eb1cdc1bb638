"""How long the classifier's training job takes: projections from measured throughput.

The figures are measurements of ``bench/scale.py`` (docs/benchmarks.md and docs/experiment-log.md, "Training at scale"); everything
else here is arithmetic on them, labelled as projections wherever it is printed:

- ``SECONDS_PER_ROW_HERE``: wall seconds of train.py per row of the input file with the default
  hyperparameters on the 2-vCPU development machine (reading, encoding, every member's epochs,
  scoring, export), measured on a 108,000-row file built from the sample. Linear in rows from
  there: early stopping counts in rows seen (validation_rows), so the epochs a member runs
  shrink as data grows; the real data may need more rows than copies of the sample do, hence
  the margin;
- ``SMALLER_FILES_HERE``: train.py's seconds on smaller files, measured the same way. Below
  108,000 rows the time is not linear in rows: smaller data trains in smaller batches
  (``training/members.py``'s ``cnn_batch``) and for more epochs, so the sample's 10,854 rows
  take about as long as 108,000. Between measured sizes the projection is linear;
- ``INSTANCE_SPEED``: how much faster an instance type runs train.py than that machine did in
  that measurement (one OpenMP thread: MXNet's default there). MXNet runs one thread per
  physical core (train.py sets it; on ml.c5 and ml.m5 that is half the vCPUs), and a second
  thread measured 1.25-1.3x the rows/s of a CNN epoch here, so a CPU instance gets 1.3x per
  doubling of its physical cores (2 cores 1.3, 4 cores 1.7, 8 cores 2.2: the Python encoding
  and the linear members do not scale with cores); for GPU instances an assumed factor, not
  measured here (no GPU on the development machine).

The job's ``MaxRuntimeInSeconds`` is the projection for the configured row count on the
configured instance times ``RUNTIME_MARGIN``, rounded up to 10 minutes: the limit stops a job
that hangs, and must never stop one that is merely on a slow day.
"""
import math
from typing import Optional

import numpy

#: Rows of the UCI News Aggregator dataset (newsCorpora.csv).
FULL_DATASET_ROWS = 422_937

#: The size ``SECONDS_PER_ROW_HERE`` was measured at.
MEASURED_ROWS = 108_000
#: Default hyperparameters, 108,000-row file (docs/benchmarks.md and docs/experiment-log.md, "Training at scale"): train.py's own
#: 115.7 s (metrics.json training.seconds) / 108,000 rows, 2 vCPU, one OpenMP thread, load
#: average 1.3-2.0 (2026-12-01 17:21 UTC, the refit on; 81.0 s without it, 123.8 s with 128
#: filters and no refit).
SECONDS_PER_ROW_HERE = 0.00108
#: (rows of the file, train.py's seconds), default hyperparameters, one OpenMP thread, 2 vCPU,
#: 2026-12-01, train.py beside another one-core job (load average 1.1-2.8): the sample, split
#: 42, 112.3 s at 19:01 UTC (batches of 64, 6-10 epochs); 40,000 rows (``bench/scale.py
#: --rows 40000``), 150.0 s at 19:03 (batches of 256, 4-5 epochs).
SMALLER_FILES_HERE = ((10_854, 112.3), (40_000, 150.0))

#: Speed of train.py relative to the 2-vCPU development machine.
INSTANCE_SPEED = {
    "ml.c5.xlarge": 1.3,  # 4 vCPU, 2 cores
    "ml.c5.2xlarge": 1.7,  # 8 vCPU, 4 cores
    "ml.c5.4xlarge": 2.2,  # 16 vCPU, 8 cores
    "ml.m5.xlarge": 1.3,  # 4 vCPU, 2 cores
    "ml.m5.2xlarge": 1.7,  # 8 vCPU, 4 cores
    "ml.g4dn.xlarge": 2.0,  # T4 GPU + 4 vCPU: assumed, the Python encoding bounds it
    "ml.g5.xlarge": 2.5,  # A10G GPU + 4 vCPU: assumed
    "ml.p3.2xlarge": 3.0,  # V100 GPU + 8 vCPU: assumed
}

#: MaxRuntimeInSeconds = projection x this (slow days, a slower instance, spot restarts).
RUNTIME_MARGIN = 3.0
#: SageMaker's largest MaxRuntimeInSeconds (5 days) and a floor for tiny data.
MAX_RUNTIME_CEILING = 432_000
MAX_RUNTIME_FLOOR = 1_800


def instance_speed(instance_type: Optional[str]) -> float:
    """The speed factor of an instance type (1.0: the development machine, ``None``)."""
    if instance_type is None:
        return 1.0
    if instance_type not in INSTANCE_SPEED:
        raise ValueError("no throughput figure for instance type {} (known: {})".format(
            instance_type, ", ".join(sorted(INSTANCE_SPEED))))
    return INSTANCE_SPEED[instance_type]


def project_seconds(measured_seconds: float, measured_rows: int, rows: int,
                    instance_type: Optional[str] = None) -> float:
    """A PROJECTION: ``measured_seconds`` for ``measured_rows`` rows here, scaled linearly to
    ``rows`` rows and to ``instance_type``'s speed."""
    return measured_seconds * rows / max(measured_rows, 1) / instance_speed(instance_type)


def projected_training_seconds(rows: int, instance_type: Optional[str] = None) -> float:
    """Projected train.py seconds for ``rows`` input rows with the default hyperparameters:
    linear between the measured sizes (from 0 s for no rows), ``SECONDS_PER_ROW_HERE`` from
    108,000 rows."""
    if rows >= MEASURED_ROWS:
        return project_seconds(SECONDS_PER_ROW_HERE, 1, rows, instance_type)
    sizes, seconds = zip((0, 0.0), *SMALLER_FILES_HERE, (MEASURED_ROWS, SECONDS_PER_ROW_HERE * MEASURED_ROWS))
    here = float(numpy.interp(rows, sizes, seconds))
    return here / instance_speed(instance_type)


def max_runtime_seconds(rows: int, instance_type: str) -> int:
    """The training job's MaxRuntimeInSeconds: projection x margin, rounded up to 10 minutes,
    within SageMaker's bounds."""
    limit = projected_training_seconds(rows, instance_type) * RUNTIME_MARGIN
    rounded = int(math.ceil(limit / 600.0) * 600)
    return max(MAX_RUNTIME_FLOOR, min(MAX_RUNTIME_CEILING, rounded))
