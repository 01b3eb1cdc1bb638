"""Parity tier, training: the synthesized state machine's MXNet job, run by AWS's training toolkit.

The hyperparameters are read from the state machine CDK synthesizes (not retyped), written to
``hyperparameters.json`` as SageMaker writes them, and the toolkit in the SageMaker-shaped
Python 3.8 environment runs train.py from the sourcedir asset of that same synthesis. A name or
value the toolkit would pass differently from what train.py takes fails the job, and so the test.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict

import pytest

from headlines.hyperparameters import blazingtext_hyperparameters, classifier_hyperparameters, schema
from headlines.local import training_job

# Tiny data, one epoch per member: the overrides go in as `cdk synth -c` would pass them.
CONTEXT = {"headlines.classifier.hyperparameters.epochs": "1", "headlines.classifier.hyperparameters.linear_epochs": "1"}
ARTIFACT_FILES = {"model-symbol.json", "model-0000.params", "vocab.json", "labels.json", "metrics.json",
                  "code/inference.py", "code/headline_text.py", "code/numpy_network.py"}
SAGEMAKER_KEYS = {"sagemaker_program", "sagemaker_submit_directory", "sagemaker_region", "sagemaker_container_log_level"}


def _definition(template) -> Dict[str, Any]:
    """The state machine's ASL, CloudFormation tokens (account, partition) replaced by TOKEN."""
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    definition = machine["Properties"]["DefinitionString"]
    if isinstance(definition, dict):
        definition = "".join(_text(part) for part in definition["Fn::Join"][1])
    return json.loads(definition)


def _text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and isinstance(part.get("Fn::Sub"), str):  # e.g. the sourcedir asset's S3 URI
        return re.sub(r"\$\{[^}]+\}", "TOKEN", part["Fn::Sub"])
    return "TOKEN"


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from infra.application import build, cdk_json_context

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir), context={**cdk_json_context(), **CONTEXT})
    built = build(app, nag=False)
    app.synth()
    states = _definition(Template.from_stack(built.pipeline))["States"]
    return SimpleNamespace(cfg=built.cfg, outdir=outdir, classifier=states["Train classifier"]["Parameters"],
                           embeddings=states["Train embeddings"])


def test_the_state_machine_sends_what_the_local_run_writes(synthesized, tmp_path):
    """One source: the MXNet job's HyperParameters are the local run's hyperparameters.json
    (vector_dim included), apart from where the sourcedir lives."""
    sent = synthesized.classifier["HyperParameters"]
    local = training_job.prepare(tmp_path, classifier_hyperparameters(synthesized.cfg), {},
                                 synthesized.cfg.classifier.instance_type).hyperparameters
    assert set(sent) == set(local)
    assert {key: value for key, value in sent.items() if key not in ("sagemaker_submit_directory", "sagemaker_region")} \
        == {key: value for key, value in local.items() if key not in ("sagemaker_submit_directory", "sagemaker_region")}
    assert json.loads(sent["epochs"]) == 1 and json.loads(sent["linear_epochs"]) == 1  # the -c overrides
    # The classifier's vector_dim is the BlazingText job's, in the same synthesized machine.
    blazingtext = synthesized.embeddings["Parameters"]["HyperParameters"]
    assert blazingtext == blazingtext_hyperparameters(synthesized.cfg)
    assert json.loads(sent["vector_dim"]) == int(blazingtext["vector_dim"])
    # Every name is one train.py takes; each value converts to itself.
    names = {spec.name: spec for spec in schema().CLASSIFIER}
    for key, value in sent.items():
        if key not in SAGEMAKER_KEYS:
            assert names[key].convert(json.loads(value)) == json.loads(value), key


def test_the_embeddings_channel_is_blazingtexts_model_tar_gz(synthesized):
    """SageMaker puts the BlazingText job's model.tar.gz (S3ModelArtifacts) in the channel, as
    the local pipeline does."""
    assert synthesized.embeddings["ResultSelector"]["model_data_url.$"] == "$.ModelArtifacts.S3ModelArtifacts"
    channels = {channel["ChannelName"]: channel for channel in synthesized.classifier["InputDataConfig"]}
    assert channels["embeddings"]["DataSource"]["S3DataSource"]["S3Uri.$"] == "$.embeddings.model_data_url"
    assert channels["embeddings"]["ContentType"] == "application/x-tar"


@pytest.mark.parity
@pytest.mark.slow
def test_the_toolkit_trains_the_synthesized_job_into_the_artifact_contract(synthesized, sagemaker_python,
                                                                          tiny_news, tiny_corpus, tmp_path):
    from headlines.local.embeddings import package_model as package_blazingtext
    from headlines.local.embeddings import train_embeddings
    from headlines.local.pipeline import Lineage, package_model

    cfg = synthesized.cfg
    sent = dict(synthesized.classifier["HyperParameters"])
    # The sourcedir CDK staged for this synthesis (the file asset it publishes to S3).
    asset_hash = re.search(r"([0-9a-f]{64})\.gz", sent["sagemaker_submit_directory"]).group(1)
    (asset,) = synthesized.outdir.glob(f"asset.{asset_hash}*")
    sent["sagemaker_submit_directory"] = json.dumps(str(asset))

    train_embeddings(tiny_corpus, tmp_path / "vectors", cfg.embeddings.hyperparameters)
    embeddings = package_blazingtext(tmp_path / "vectors", tmp_path / "blazingtext" / "model.tar.gz")
    job = training_job.prepare_encoded(tmp_path / "job", sent, {"train": tiny_news, "embeddings": embeddings},
                                       cfg.classifier.instance_type)
    log = tmp_path / "job" / training_job.LOG_NAME
    returncode = training_job.run(job, log)
    assert returncode == 0, training_job.failure(job, log) + "\n" + "\n".join(log.read_text().splitlines()[-15:])
    assert (job.output_dir / "success").is_file()

    shutil.copyfile(asset, job.base_dir / "sourcedir.tar.gz")  # the code the registry's lineage hashes, as a local run keeps it
    lineage = Lineage(news=tiny_news, corpus=tiny_corpus, embeddings=embeddings)
    result = package_model(job.model_dir, job.base_dir, tmp_path / "workdir", cfg, lineage)
    with tarfile.open(result.artifact) as tar:
        names = {member.name for member in tar.getmembers() if member.isfile()}
    assert ARTIFACT_FILES <= names, sorted(names)
    metrics = result.metrics
    assert {"accuracy", "macro_f1", "test", "validation", "model_version", "history"} <= set(metrics)
    assert set(metrics["test"]["per_class"]) == {"business", "science_technology", "entertainment", "health"}
    # Each hyperparameter reached train.py with the value the state machine sent.
    for spec in schema().CLASSIFIER:
        if spec.name in sent:
            value = spec.parse(json.loads(sent[spec.name]))
            expected = [list(item) if isinstance(item, tuple) else item for item in value] \
                if isinstance(value, tuple) else value
            assert metrics["hyperparameters"][spec.name] == expected, spec.name
    labels = json.loads((result.model_dir / "labels.json").read_text())["labels"]
    assert [label["code"] for label in labels] == ["b", "t", "e", "m"]

    # The exported network loads in the image's mxnet 1.9.0 on Python 3.8 and gives one
    # probability distribution over the four classes per row (token ids + hashed n-grams).
    vocab = json.loads((result.model_dir / "vocab.json").read_text())
    width = vocab["max_len"] + vocab["ngrams"]["max_ngrams"]
    load = ("import mxnet as mx, sys; d = sys.argv[1]; "
            "net = mx.gluon.SymbolBlock.imports(d + '/model-symbol.json', ['data'], d + '/model-0000.params'); "
            "out = net(mx.nd.ones((3, int(sys.argv[2])))).softmax(axis=1).asnumpy(); "
            "print(out.shape, round(float(out.sum()), 3))")
    loaded = subprocess.run([str(sagemaker_python), "-c", load, str(result.model_dir), str(width)],
                            capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip().splitlines()[-1] == "(3, 4) 3.0"


@pytest.mark.parametrize("context, message", [
    ({"headlines.classifier.hyperparameters.epochz": 1},
     "error: cdk.json headlines.classifier.hyperparameters: unknown hyperparameter 'epochz' (did you mean 'epochs'?)"),
    ({"headlines.classifier.hyperparameters.epochs": "abc"},
     "error: cdk.json headlines.classifier.hyperparameters: epochs: expected an integer, got 'abc'"),
    ({"headlines.embeddings.hyperparameters.vector_dim": -1},
     "error: cdk.json headlines.embeddings.hyperparameters: vector_dim: must be >= 1, got -1"),
])
def test_synth_rejects_a_bad_hyperparameter_in_one_line(tmp_path, context, message):
    """What `npx cdk synth -c ...` runs (app.py, context in CDK_CONTEXT_JSON): no paid job with a typo."""
    import os
    import sys

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, CDK_CONTEXT_JSON=json.dumps(context), CDK_OUTDIR=str(tmp_path),
               JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1")
    result = subprocess.run([sys.executable, "app.py"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    # (jsii may print its own notice about the Node.js version first: not ours to silence)
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == message, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
