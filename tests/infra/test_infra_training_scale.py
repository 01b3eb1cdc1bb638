"""The classifier job at the real dataset's size: its runtime limit, and the GPU switch."""
from __future__ import annotations

import pytest
from infra_support import state_machine_definition, synthesize

from headlines.config import load_config
from headlines.training_time import (
    FULL_DATASET_ROWS,
    MAX_RUNTIME_CEILING,
    MAX_RUNTIME_FLOOR,
    MEASURED_ROWS,
    RUNTIME_MARGIN,
    SMALLER_FILES_HERE,
    WORST_CASE,
    max_runtime_seconds,
    projected_training_seconds,
    worst_case_seconds,
)

pytestmark = pytest.mark.xdist_group("infra-gpu")


def _classifier_job(synth):
    asl = state_machine_definition(synth.templates[synth.pipeline_name])
    return asl["States"]["Train classifier"]


def test_the_runtime_limit_covers_the_worst_case_the_hyperparameters_allow_with_the_margin():
    classifier = load_config().classifier
    hp = classifier.hyperparameters
    assert classifier.max_runtime_seconds is None and classifier.data_rows == FULL_DATASET_ROWS
    worst = worst_case_seconds(FULL_DATASET_ROWS, hp, classifier.instance_type)
    limit = classifier.runtime_limit_seconds
    assert limit == max_runtime_seconds(FULL_DATASET_ROWS, classifier.instance_type, hp)
    assert limit >= worst * RUNTIME_MARGIN and limit % 600 == 0 and RUNTIME_MARGIN >= 1.8
    # the worst case is no early stop: far beyond the typical (early-stopped) projection
    assert worst > 2 * projected_training_seconds(FULL_DATASET_ROWS, classifier.instance_type)
    # A number in cdk.json overrides the derivation; more rows, a longer limit, within SageMaker's bound.
    assert load_config({"headlines.classifier.max_runtime_seconds": 5000}).classifier.runtime_limit_seconds == 5000
    assert max_runtime_seconds(4 * FULL_DATASET_ROWS, "ml.c5.xlarge", hp) > limit
    assert max_runtime_seconds(10 ** 9, "ml.c5.xlarge", hp) == MAX_RUNTIME_CEILING
    assert max_runtime_seconds(100, "ml.c5.xlarge", hp) == MAX_RUNTIME_FLOOR
    # a type without a throughput figure gets the slowest assumption, never a shorter limit
    assert max_runtime_seconds(FULL_DATASET_ROWS, "ml.m5.4xlarge", hp) >= limit


def test_the_worst_case_grows_with_every_budget_the_hyperparameters_set():
    hp = load_config().classifier.hyperparameters
    base = worst_case_seconds(FULL_DATASET_ROWS, hp)
    for change in ({"epochs": 2 * hp["epochs"]}, {"linear_epochs": 2 * hp["linear_epochs"]}, {"ensemble": 3},
                   {"linear_views": hp["linear_views"] + ",word"}):
        assert worst_case_seconds(FULL_DATASET_ROWS, {**hp, **change}) > base, change
    assert worst_case_seconds(FULL_DATASET_ROWS, {**hp, "refit": False}) < base
    # each part, written out: reading and encoding, every member's full budget, the refit's again
    rows = FULL_DATASET_ROWS
    train, refit = rows * (1 - 0.1 - 0.15), rows * (1 - 0.15)
    per_row = 2 * 12 * WORST_CASE.per_cnn_row_epoch + 2 * 20 * WORST_CASE.per_linear_row_epoch
    assert base == pytest.approx(rows * WORST_CASE.per_input_row + (train + refit) * per_row)


def test_smaller_files_are_projected_from_their_own_measurements():
    """Below 108,000 rows the time is not linear in rows (smaller batches, more epochs): the
    sample's projection is its measured time, not a tenth of 108,000 rows'."""
    for rows, seconds in SMALLER_FILES_HERE:
        assert projected_training_seconds(rows) == pytest.approx(seconds)
    assert projected_training_seconds(10_854) > 0.5 * projected_training_seconds(MEASURED_ROWS)
    assert projected_training_seconds(0) == 0
    # Continuous where the two rules meet, linear in rows beyond, scaled by the instance's speed.
    assert projected_training_seconds(MEASURED_ROWS - 1) == pytest.approx(projected_training_seconds(MEASURED_ROWS),
                                                                        rel=1e-4)
    assert projected_training_seconds(2 * FULL_DATASET_ROWS) == pytest.approx(
        2 * projected_training_seconds(FULL_DATASET_ROWS))
    assert projected_training_seconds(10_854, "ml.c5.xlarge") == pytest.approx(112.3 / 1.3)


def test_the_default_job_synthesizes_the_derived_limit_on_the_cpu_image(dev):
    state = _classifier_job(dev)
    params = state["Parameters"]
    limit = dev.built.cfg.classifier.runtime_limit_seconds
    assert params["StoppingCondition"] == {"MaxRuntimeInSeconds": limit}
    assert state["TimeoutSeconds"] == limit + 1800
    assert params["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge"
    assert params["AlgorithmSpecification"]["TrainingImage"].endswith("/mxnet-training:1.9.0-cpu-py38")


@pytest.fixture(scope="module")
def gpu(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("cdk-gpu"), {"headlines.classifier.gpu": "true"})


def test_the_gpu_switch_synthesizes_a_gpu_instance_with_the_gpu_image(gpu):
    state = _classifier_job(gpu)
    params = state["Parameters"]
    assert params["ResourceConfig"]["InstanceType"] == "ml.g4dn.xlarge"
    # The SDK's image lookup (infra/images.py) for that instance type: the GPU image.
    assert params["AlgorithmSpecification"]["TrainingImage"] == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/mxnet-training:1.9.0-gpu-py38")
    limit = gpu.built.cfg.classifier.runtime_limit_seconds
    assert limit == max_runtime_seconds(FULL_DATASET_ROWS, "ml.g4dn.xlarge", gpu.built.cfg.classifier.hyperparameters)
    assert "VolumeKmsKeyId" not in params["ResourceConfig"]  # g4dn: local NVMe storage
    assert params["StoppingCondition"] == {"MaxRuntimeInSeconds": limit}
    # The role may pull the image it runs.
    policies = gpu.resources(gpu.pipeline_name, "AWS::IAM::Policy")
    assert "repository/mxnet-training" in str(policies)
