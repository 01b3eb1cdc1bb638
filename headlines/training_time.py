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

The job's ``MaxRuntimeInSeconds`` is not that projection (the time a typical run takes, with
early stopping) but the WORST CASE the hyperparameters allow, times ``RUNTIME_MARGIN``: every
member runs its whole epoch budget (no early stop), the refit runs it again on the training and
validation rows, plus reading, encoding, scoring and export. A job the limit stops writes no
model, after the BlazingText job was paid for; the limit only has to stop a job that hangs.
``WORST_CASE`` holds the per-row CPU costs of each part, measured with one OpenMP thread on
data shaped like the real dataset (bench/scale.py's file of distinct headlines in stories; CPU
seconds, so that a busy machine does not inflate them); ``worst_case_seconds`` multiplies them
by the configured budgets, so ``-H epochs=30`` or a third CNN lengthens the limit with them.
"""
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

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

#: MaxRuntimeInSeconds = worst case x this: machines of one kind differ by up to 1.8x (bench/
#: scale.py's CNN epoch: 4,747-4,859 rows/s on one, 2,694-2,727 on another), and the instance
#: factors below are estimates (GPU ones assumed).
RUNTIME_MARGIN = 2.0
#: How long a training Task state waits beyond its job's MaxRuntimeInSeconds (start-up, upload).
TASK_TIMEOUT_MARGIN_SECONDS = 1800
#: SageMaker's largest MaxRuntimeInSeconds (5 days) and a floor for tiny data.
MAX_RUNTIME_CEILING = 432_000
MAX_RUNTIME_FLOOR = 1_800


def instance_speed(instance_type: Optional[str]) -> float:
    """The speed factor of an instance type (1.0: the development machine, ``None``; also any
    type without a figure here: a longer limit is harmless, a shorter one loses the job)."""
    if instance_type is None:
        return 1.0
    return INSTANCE_SPEED.get(instance_type, 1.0)


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


@dataclass(frozen=True)
class WorstCaseCost:
    """CPU seconds of train.py (one OpenMP thread), per row."""

    per_input_row: float  # reading, splitting, encoding, scoring the validation and test sides, export
    per_cnn_row_epoch: float  # one epoch of one CNN member over one training row, its validation checks included
    per_linear_row_epoch: float  # the same for one linear member


#: Measured 2026-12-07 02:27-02:33 UTC: ``bench/scale.py --rows 108000 -H epochs=1 -H linear_epochs=1
#: -H patience=100`` (every member one whole epoch with its 4 validation checks, then the refit),
#: 80,927 training rows, train.py's metrics.json history (cpu_seconds of each check's share of the
#: epoch, one OpenMP thread): the slower CNN member 42.8 CPU s per epoch (the other 38.1), the
#: slower linear member 15.1 (the other 12.2). The rest (reading, encoding, scoring validation
#: and test, export) is wall time, 86 s of train.py's 382 s (the machine had a load average of
#: 9-10: CPU time would have been about half; kept as the upper bound).
WORST_CASE = WorstCaseCost(per_input_row=86.0 / 108_000, per_cnn_row_epoch=42.8 / 80_927,
                           per_linear_row_epoch=15.1 / 80_927)


def worst_case_seconds(rows: int, hyperparameters: Mapping[str, Any], instance_type: Optional[str] = None,
                       cost: WorstCaseCost = WORST_CASE) -> float:
    """The longest train.py can run on ``rows`` rows with these hyperparameters (no early stop,
    the refit's full budget), on ``instance_type``."""
    from headlines.hyperparameters import effective_classifier

    hp = effective_classifier(hyperparameters)
    test, validation = float(hp["test_fraction"]), float(hp["validation_fraction"])
    train_rows = rows * (1.0 - validation - test)
    refit_rows = rows * (1.0 - test) if hp["refit"] else 0.0
    cnns = max(1, int(hp["ensemble"]))
    linears = len(str(hp["linear_views"]).split(",")) if float(hp["linear_weight"]) > 0 and hp["ngram_features"] else 0
    per_row_budget = (cnns * int(hp["epochs"]) * cost.per_cnn_row_epoch
                      + linears * int(hp["linear_epochs"]) * cost.per_linear_row_epoch)
    cpu = rows * cost.per_input_row + (train_rows + refit_rows) * per_row_budget
    return cpu / instance_speed(instance_type)


def max_runtime_seconds(rows: int, instance_type: str, hyperparameters: Mapping[str, Any]) -> int:
    """The training job's MaxRuntimeInSeconds: the worst case x margin, rounded up to 10
    minutes, within SageMaker's bounds."""
    limit = worst_case_seconds(rows, hyperparameters, instance_type) * RUNTIME_MARGIN
    rounded = int(math.ceil(limit / 600.0) * 600)
    return max(MAX_RUNTIME_FLOOR, min(MAX_RUNTIME_CEILING, rounded))
