"""training/: loaders, story split, word vectors, metrics, and train.py end to end on tiny data."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "news"
TAB_FILE = FIXTURES / "newsCorpora-small.csv"
CSV_FILE = FIXTURES / "uci-news-aggregator-small.csv"
TRAIN_PY = ROOT / "training" / "train.py"
for folder in ("training", "inference"):
    if str(ROOT / folder) not in sys.path:
        sys.path.insert(0, str(ROOT / folder))

from headline_text import tokenize  # noqa: E402
from metrics import classification_report, confusion  # noqa: E402
from news_data import (  # noqa: E402
    LABEL_CODES,
    DataError,
    Headline,
    category_mix,
    load_headlines,
    make_split,
    split_by_story,
)
from word_vectors import read_vectors  # noqa: E402

# A tiny but complete configuration of the default model: every branch, two CNNs and the
# two linear members (one per n-gram view), refit on training + validation rows.
TINY = ["--epochs", "2", "--batch_size", "32", "--vector_dim", "16", "--num_filters", "8",
        "--ensemble", "2", "--ngram_buckets", "4096", "--ngram_dim", "8", "--max_ngrams", "160",
        "--extra_vocab", "50", "--validation_fraction", "0.2", "--test_fraction", "0.2",
        "--linear_weight", "0.5", "--linear_epochs", "2", "--refit", "true"]


# --- loaders -----------------------------------------------------------------------------

def test_loads_uci_tab_separated_file():
    report = load_headlines(str(TAB_FILE))
    assert report.source_format == "uci-tab-separated"
    assert report.skipped == 0
    assert len(report.rows) == 289
    assert {row.label for row in report.rows} == set(LABEL_CODES)
    first = report.rows[0]
    assert first.title == "Europe reaches crunch point on banking union"
    assert (first.label, first.story) == ("b", "dPhGU51DcrolUIMxbRm0InaHGA2XM")


def test_loads_comma_separated_file_with_header_and_skips_its_truncated_row(caplog):
    with caplog.at_level(logging.WARNING):
        report = load_headlines(str(CSV_FILE))
    assert report.source_format == "csv-with-header"
    assert len(report.rows) == 120 and report.skipped == 1
    assert "skipped 1 malformed row" in caplog.text
    assert any("," in row.title for row in report.rows)  # quoted commas stay in the title


def test_malformed_rows_are_counted_and_skipped(tmp_path, caplog):
    lines = TAB_FILE.read_text(encoding="utf-8").splitlines()[:20]
    broken = lines[:5] + [
        "1\tonly\tthree columns",                                   # wrong column count
        lines[5].replace("\tb\t", "\tx\t"),                         # unknown label
        "\t".join(["2", " ", "u", "p", "b", "s", "h", "1"]),        # empty title
        "\t".join(["3", "title", "u", "p", "e", "", "h", "1"]),     # no story
    ] + lines[6:] + ["9\tan extra\tcolumn\tu\tp\tb\ts\th\t1"]
    path = tmp_path / "news.csv"
    path.write_text("\n".join(broken) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        report = load_headlines(str(path))
    assert report.skipped == 5
    assert len(report.rows) == 19
    assert "skipped 5 malformed row(s)" in caplog.text


def test_reads_newscorpora_inside_the_uci_zip_and_a_channel_folder(tmp_path):
    archive = tmp_path / "NewsAggregatorDataset.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(TAB_FILE, "newsCorpora.csv")
        handle.writestr("readme.txt", "not data")
    assert len(load_headlines(str(archive)).rows) == 289
    channel = tmp_path / "channel"
    channel.mkdir()
    shutil.copy(CSV_FILE, channel / "data.csv")
    assert len(load_headlines(str(channel)).rows) == 120


def test_file_in_neither_format_is_an_error(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("name,value\nx,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="not a News Aggregator file"):
        load_headlines(str(path))
    with pytest.raises(DataError, match="no such file"):
        load_headlines(str(tmp_path / "missing.csv"))


def test_file_with_no_usable_rows_is_an_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(CSV_FILE.read_text(encoding="utf-8").splitlines()[0] + "\n1,title,u,p,z,s,h,1\n",
                    encoding="utf-8")
    with pytest.raises(DataError, match="no usable rows"):
        load_headlines(str(path))


# --- story split -------------------------------------------------------------------------

def test_story_split_keeps_each_story_on_one_side_and_is_deterministic():
    rows = load_headlines(str(TAB_FILE)).rows
    split = split_by_story(rows, 0.2, 0.2, seed=7)
    sides = [{row.story for row in side} for side in split]
    assert all(side for side in sides)
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert sorted(split.train + split.validation + split.test) == sorted(rows)
    assert abs(len(split.test) - 0.2 * len(rows)) < 15
    assert split_by_story(rows, 0.2, 0.2, seed=7) == split
    assert split_by_story(list(reversed(rows)), 0.2, 0.2, seed=7).test != [] and \
        {row.story for row in split_by_story(list(reversed(rows)), 0.2, 0.2, seed=7).test} == sides[2]
    assert split_by_story(rows, 0.2, 0.2, seed=8).test != split.test


def test_category_mix_is_each_category_share_by_the_api_names():
    rows = [Headline("a", "b", "s1")] * 3 + [Headline("c", "t", "s2")] + [Headline("d", "m", "s3")] * 4
    assert category_mix(rows) == {"business": 0.375, "science_technology": 0.125, "entertainment": 0.0, "health": 0.5}
    assert category_mix([]) == {"business": 0.0, "science_technology": 0.0, "entertainment": 0.0, "health": 0.0}


def test_make_split_with_a_test_file_and_the_leaky_option():
    rows = load_headlines(str(TAB_FILE)).rows
    given = load_headlines(str(CSV_FILE)).rows
    split = make_split(rows, "story", 0.2, 0.15, 1, test_rows=given)
    assert split.test == given and len(split.train) + len(split.validation) == len(rows)
    leaky = make_split(rows, "random_leaky", 0.2, 0.2, 1)
    assert len(leaky.test) == round(0.2 * len(rows))
    with pytest.raises(DataError, match="unknown split"):
        make_split(rows, "by_publisher", 0.2, 0.2, 1)
    with pytest.raises(DataError, match="empty"):
        make_split(rows[:1], "story", 0.2, 0.2, 1)


# --- word vectors ------------------------------------------------------------------------

def write_vectors(folder: Path, dim: int, words=None, seed: int = 0) -> Path:
    """A word2vec text file (BlazingText's vectors.txt) for the fixture's words."""
    if words is None:
        words = sorted({token for row in load_headlines(str(TAB_FILE)).rows for token in tokenize(row.title)})
        words += ["padding", "words", "from", "the", "corpus"]
    rng = np.random.RandomState(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["{} {}".format(len(words), dim)]
    lines += ["{} {}".format(word, " ".join("{:.5f}".format(v) for v in rng.normal(size=dim))) for word in words]
    path = folder / "vectors.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def as_model_tar_gz(vectors: Path, folder: Path) -> Path:
    """BlazingText's model.tar.gz (vectors.txt and vectors.bin inside) in a channel folder."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as handle:
        handle.add(vectors, arcname="vectors.txt")
        binary = vectors.with_name("vectors.bin")
        binary.write_bytes(b"\0binary")
        handle.add(binary, arcname="vectors.bin")
    return archive


def test_reads_vectors_from_text_file_folder_and_model_tar_gz(tmp_path):
    path = write_vectors(tmp_path / "plain", 6, ["fed", "rates", "apple"])
    vectors, count = read_vectors(str(tmp_path / "plain"), 6, wanted=["fed", "apple", "absent"])
    assert count == 3 and sorted(vectors) == ["apple", "fed"]
    assert vectors["fed"].shape == (6,) and vectors["fed"].dtype == np.float32
    archive = as_model_tar_gz(path, tmp_path / "channel")
    from_archive, _ = read_vectors(str(archive.parent), 6)
    assert list(from_archive) == ["fed", "rates", "apple"]
    np.testing.assert_array_equal(from_archive["rates"], read_vectors(str(path), 6)[0]["rates"])


def test_vector_dimension_mismatch_is_a_one_line_error(tmp_path):
    write_vectors(tmp_path, 6, ["fed", "rates"])
    with pytest.raises(DataError, match="dimension 6, but the configuration says vector_dim=100"):
        read_vectors(str(tmp_path), 100)
    (tmp_path / "vectors.txt").write_text("not a header\n", encoding="utf-8")
    with pytest.raises(DataError, match="word2vec text format"):
        read_vectors(str(tmp_path), 6)
    with pytest.raises(DataError, match="no vectors.txt"):
        read_vectors(str(tmp_path / "empty"), 6) if (tmp_path / "empty").mkdir() is None else None


# --- metrics -----------------------------------------------------------------------------

def test_metrics_agree_with_scikit_learn():
    from sklearn import metrics as sk

    rng = np.random.RandomState(3)
    y_true = rng.randint(0, 4, size=500)
    y_pred = np.where(rng.rand(500) < 0.7, y_true, rng.randint(0, 4, size=500))
    y_pred[y_pred == 3] = 2  # class 3 never predicted: precision 0 by convention
    names = ["b", "t", "e", "m"]
    report = classification_report(y_true, y_pred, names)
    assert report["accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred))
    assert report["macro_f1"] == pytest.approx(sk.f1_score(y_true, y_pred, average="macro", zero_division=0))
    precision, recall, f1, support = sk.precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2, 3],
                                                                       zero_division=0)
    for index, name in enumerate(names):
        per_class = report["per_class"][name]
        assert per_class["precision"] == pytest.approx(precision[index])
        assert per_class["recall"] == pytest.approx(recall[index])
        assert per_class["f1"] == pytest.approx(f1[index])
        assert per_class["support"] == support[index]
    matrix = sk.confusion_matrix(y_true, y_pred, labels=[0, 1, 2, 3])
    assert report["confusion_matrix"]["rows_true_columns_predicted"] == matrix.tolist()
    np.testing.assert_array_equal(confusion(y_true, y_pred, 4), matrix)


# --- train.py ----------------------------------------------------------------------------

def run_train(tmp_path: Path, *arguments: str, train: Path = TAB_FILE, embeddings: Path = None,
              model_dir: Path = None):
    """train.py as SageMaker's MXNet container runs it: SM_* variables and --name value."""
    env = dict(os.environ, SM_CHANNEL_TRAIN=str(train), SM_MODEL_DIR=str(model_dir or tmp_path / "model"),
               SM_OUTPUT_DATA_DIR=str(tmp_path / "output" / "data"), PYTHONHASHSEED="random")
    env["SM_CHANNEL_EMBEDDINGS"] = str(embeddings or tmp_path / "embeddings")
    return subprocess.run([sys.executable, str(TRAIN_PY), *arguments], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=300)


def test_train_py_dimension_mismatch_exits_with_one_line(tmp_path):
    write_vectors(tmp_path / "embeddings", 8)
    (tmp_path / "output" / "data").mkdir(parents=True)
    result = run_train(tmp_path, "--vector_dim", "16")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: {}: word vectors have dimension 8, but the configuration says vector_dim=16".format(
            tmp_path / "embeddings" / "vectors.txt")]
    assert (tmp_path / "output" / "failure").read_text().startswith("error: ")


def test_train_py_file_without_usable_rows_exits_with_one_line(tmp_path):
    write_vectors(tmp_path / "embeddings", 16)
    bad = tmp_path / "news.csv"
    bad.write_text("\t".join(["1", "title", "u", "p", "x", "s", "h", "1"]) + "\n", encoding="utf-8")
    result = run_train(tmp_path, "--vector_dim", "16", train=bad)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if not line.startswith("WARNING")]
    assert errors == ["error: {}: no usable rows (skipped 1 malformed)".format(bad)]


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """The same tiny training twice with one seed (vectors from a model.tar.gz channel)."""
    root = tmp_path_factory.mktemp("tiny")
    archive = as_model_tar_gz(write_vectors(root / "vectors", 16), root / "embeddings")
    runs = []
    for attempt in ("first", "second"):
        result = run_train(root, *TINY, embeddings=archive.parent, model_dir=root / attempt)
        assert result.returncode == 0, result.stderr[-2000:]
        runs.append((root / attempt, result.stdout))
    return runs


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_train")
def test_same_seed_gives_the_same_metrics(tiny_runs):
    (first, _), (second, _) = tiny_runs
    a = json.loads((first / "metrics.json").read_text())
    b = json.loads((second / "metrics.json").read_text())
    assert a["test"] == b["test"] and a["validation"] == b["validation"]
    assert a["model_version"] == b["model_version"]  # the hash of the parameters: bit for bit


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_train")
def test_train_py_writes_the_artifact_that_inference_serves(tiny_runs):
    model_dir, stdout = tiny_runs[0]
    assert sorted(path.name for path in model_dir.iterdir()) == [
        "code", "labels.json", "metrics.json", "model-0000.params", "model-symbol.json", "vocab.json"]
    assert sorted(path.name for path in (model_dir / "code").iterdir()) == ["headline_text.py", "inference.py", "numpy_network.py"]
    assert "test_accuracy=" in stdout and "test_macro_f1=" in stdout
    assert "member=1; epoch=2;" in stdout and "member=2; refit epoch=" in stdout
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert set(metrics["test"]) >= {"accuracy", "macro_f1", "per_class", "confusion_matrix"}
    assert metrics["data"]["split"] == "story" and metrics["data"]["test_source"] == "held-out stories"
    assert [member["kind"] for member in metrics["training"]["members"]] == ["textcnn", "textcnn", "linear", "linear"]
    assert metrics["training"]["member_weights"] == [0.25, 0.25, 0.25, 0.25]
    assert metrics["data"]["refit_on_train_and_validation"] is True
    # The drift check's baseline: the category mix of the rows the served model learnt from.
    mix = metrics["data"]["category_mix"]
    assert sorted(mix) == ["business", "entertainment", "health", "science_technology"]
    assert abs(sum(mix.values()) - 1) < 1e-4 and all(0 < share < 1 for share in mix.values())
    # Per-epoch history of every member, by the names of its parameters in the network.
    history = metrics["history"]
    assert sorted(history) == ["linear2", "linear3", "textcnn0", "textcnn1"]
    assert [member["name"] for member in metrics["training"]["members"]] == ["textcnn0", "textcnn1", "linear2",
                                                                            "linear3"]
    for name, epochs in history.items():
        assert [entry["epoch"] for entry in epochs] == [1, 2], name
        for entry in epochs:
            assert set(entry) == {"epoch", "train_loss", "validation_accuracy", "validation_macro_f1", "seconds",
                                  "cpu_seconds"}
            assert entry["train_loss"] > 0 and 0 <= entry["validation_macro_f1"] <= 1 and entry["seconds"] >= 0
    labels = json.loads((model_dir / "labels.json").read_text())["labels"]
    assert [label["code"] for label in labels] == ["b", "t", "e", "m"]
    vocab = json.loads((model_dir / "vocab.json").read_text())
    assert vocab["tokenizer"] == "text8-v3" and vocab["ngrams"]["buckets"] == 4096
    assert vocab["ngrams"]["features"] == ["word", "word_bigram", "char", "text_char"]

    # The serving entry point, from the artifact's own code/ folder, in a fresh interpreter.
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1] + '/code'); import inference as i; "
        "m = i.model_fn(sys.argv[1]); "
        "out = i.predict_fn(i.input_fn(json.dumps({'headlines': ['Fed raises rates', 'New Ebola case']}), "
        "'application/json'), m); print(json.dumps(out))")
    result = subprocess.run([sys.executable, "-c", script, str(model_dir)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    predictions = json.loads(result.stdout.strip().splitlines()[-1])["predictions"]
    assert len(predictions) == 2
    for prediction in predictions:
        assert prediction["label"] in LABEL_CODES
        assert sum(prediction["scores"].values()) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_a_refit_trains_as_far_as_each_members_best_check(tmp_path):
    """Scored several times an epoch (validation_rows), a member's best check may fall inside an
    epoch; its refit on training + validation rows then stops after that share of an epoch. The
    checks score check_rows of the validation side."""
    archive = as_model_tar_gz(write_vectors(tmp_path / "vectors", 16), tmp_path / "embeddings")
    result = run_train(tmp_path, *TINY, "--validation_rows", "50", "--check_rows", "20", "--epochs", "3",
                       embeddings=archive.parent, model_dir=tmp_path / "model")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    best = {int(member["name"][-1]): member["best_epoch"] for member in metrics["training"]["members"]}
    assert any(epoch != int(epoch) for epoch in best.values()), best  # a check inside an epoch won
    for member, epoch in best.items():
        refits = [line for line in result.stdout.splitlines() if line.startswith("member={}; refit epoch=".format(member))]
        assert refits[-1].split("refit epoch=")[1].split(";")[0] == "{:g}".format(epoch), (member, refits)


@pytest.mark.slow
def test_seed_baseline_still_trains(tmp_path):
    write_vectors(tmp_path / "embeddings", 16)
    result = run_train(tmp_path, "--model", "seed", "--epochs", "1", "--vector_dim", "16",
                       "--validation_fraction", "0.2", "--test_fraction", "0.2")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["model"] == "seed"
    assert json.loads((tmp_path / "model" / "vocab.json").read_text())["tokenizer"] == "text8-v1"


def test_cdk_json_classifier_hyperparameters_are_train_py_defaults():
    """The pipeline passes cdk.json's hyperparameters; train.py's defaults must say the same."""
    import train

    config = json.loads((ROOT / "cdk.json").read_text())["context"]["headlines"]["classifier"]["hyperparameters"]
    locations = ["--train", "data.csv", "--embeddings", "vectors"]
    defaults = vars(train.parse_args(locations))
    for name, value in config.items():
        assert name in defaults, name
        # As SageMaker's toolkit passes it: the JSON value decoded, then str(), as "--name value".
        passed = vars(train.parse_args(locations + ["--" + name, str(json.loads(json.dumps(value)))]))[name]
        assert passed == defaults[name], "{}: cdk.json {!r}, train.py {!r}".format(name, passed, defaults[name])


def test_train_py_arguments_are_the_schema():
    """train.py's argparse is derived from training/hyperparameters.py: same names, defaults."""
    import headline_text
    import train
    from hyperparameters import CLASSIFIER

    locations = ["--train", "data.csv", "--embeddings", "vectors"]
    parsed = vars(train.parse_args(locations))
    assert set(parsed) - {"model_dir", "train", "embeddings", "test", "champion"} == {spec.name for spec in CLASSIFIER}
    for spec in CLASSIFIER:
        assert parsed[spec.name] == spec.parse(spec.default), spec.name
    assert train.parse_args(locations + ["--kernel_sizes", "[3, 5]"]).kernel_sizes == (3, 5)  # a JSON list
    assert train.parse_args(locations + ["--refit", "True"]).refit is True  # str(True), as the toolkit passes it
    assert train.parse_args(locations + ["--linear_views", "word+char,text_char"]).linear_views == (
        ("word", "char"), ("text_char",))
    assert headline_text.FAMILIES == tuple(parsed["ngram_features"])


@pytest.mark.parametrize("arguments, message", [
    (["--epoch", "1"], "unrecognized arguments: --epoch 1"),  # no abbreviations
    (["--epochz", "1"], "unrecognized arguments: --epochz 1"),
    (["--epochs", "abc"], "argument --epochs: expected an integer, got 'abc'"),
    (["--epochs", "-1"], "argument --epochs: must be >= 1, got -1"),
    (["--dropout", "1"], "argument --dropout: must be < 1, got 1.0"),
    (["--split", "leaky"], "argument --split: expected one of story, random_leaky, got 'leaky'"),
    (["--char_ngrams", "1,2,3"], "argument --char_ngrams: expected 1 to 2 integers, got 3"),
])
def test_train_py_rejects_unknown_names_and_bad_values(arguments, message, capsys):
    import train

    with pytest.raises(SystemExit) as exit_info:
        train.parse_args(["--train", "data.csv", "--embeddings", "vectors"] + arguments)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(": error: " + message)


def test_unknown_ngram_features_are_a_one_line_usage_error(tmp_path):
    write_vectors(tmp_path / "embeddings", 16)
    result = run_train(tmp_path, "--vector_dim", "16", "--linear_views", "word+emoji")
    assert result.returncode == 2 and "unknown n-gram features emoji" in result.stderr
    result = run_train(tmp_path, "--vector_dim", "16", "--ngram_features", "word,char")
    assert result.returncode == 2 and "linear_views uses n-gram features not in ngram_features" in result.stderr


def test_the_configuration_reference_lists_the_hyperparameters_of_the_schema():
    """docs/configuration.md's tables are the schema's (headlines.hyperparameters.markdown_table;
    the page is generated, tests/docs/test_config_reference.py checks it is current)."""
    from headlines.hyperparameters import markdown_table, schema

    reference = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert markdown_table(schema().CLASSIFIER) in reference
    assert markdown_table(schema().BLAZINGTEXT) in reference


@pytest.mark.slow
def test_a_full_disk_while_exporting_is_one_line(tmp_path):
    """MXNet's "FileStream.Write incomplete" (here: the parameters file is /dev/full) -> one error line."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    write_vectors(tmp_path / "embeddings", 16)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model-0000.params").symlink_to("/dev/full")
    result = run_train(tmp_path, "--model", "seed", "--epochs", "1", "--vector_dim", "16",
                       "--validation_fraction", "0.2", "--test_fraction", "0.2")
    assert result.returncode == 2, result.stderr[-2000:]
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: cannot write the model to {}: ".format(model_dir)), result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_epochs_on_the_command_line_is_every_members_budget():
    """-H epochs=N also sets linear_epochs=N, unless -H linear_epochs is given; vector_dim
    always comes from the embeddings' hyperparameters."""
    from headlines.config import load_config
    from headlines.hyperparameters import classifier_hyperparameters

    config = load_config()
    assert classifier_hyperparameters(config)["linear_epochs"] == 20
    assert classifier_hyperparameters(config, {"epochs": "2"})["linear_epochs"] == 2
    both = classifier_hyperparameters(config, {"epochs": "2", "linear_epochs": "5"})
    assert (both["epochs"], both["linear_epochs"]) == (2, 5)
    assert classifier_hyperparameters(load_config({"headlines.embeddings.hyperparameters.vector_dim": 50}))[
        "vector_dim"] == 50
    assert classifier_hyperparameters(config, {"kernel_sizes": "[2, 3]", "refit": "true"})["kernel_sizes"] == "2,3"


# --- batches: compact encoding, trimmed inputs ----------------------------------------------

_TRIM_SCRIPT = r'''
import sys
sys.path[:0] = [sys.argv[1] + "/training", sys.argv[1] + "/inference"]
import numpy as np, mxnet as mx
import batches, train
from news_data import load_headlines

rows = load_headlines(sys.argv[2]).rows
cut = []
for max_len in ("24", "12"):  # 12: many headlines are cut, so some have no window on padding
  args = train.parse_args(["--train", sys.argv[2], "--embeddings", "unused", "--vector_dim", "16",
                           "--num_filters", "8", "--ngram_buckets", "4096", "--ngram_dim", "8", "--max_len", max_len])
  vocab = train.build_vocabulary(rows, {}, args)
  kinds = train.member_kinds(args)
  linear = [member for member, kind in enumerate(kinds) if kind == "linear"]
  views = [train.linear_view(args, member) for member in linear]
  encoded, seen = train.encode(rows, vocab, batches.view_hashers(vocab, views))
  plain, _ = train.encode(rows, vocab)
  everything = np.arange(len(rows))
  expected = np.asarray([vocab.encode(row.title) for row in rows], dtype=np.float32)
  assert (batches.full_width(encoded, everything) == expected).all()
  assert (batches.full_width(plain, everything) == expected).all()
  for view, marks in zip(views, seen):
      assert (marks[1:] == train.view_buckets(rows, vocab, view)[1:]).all(), view  # 0: padding
  rng = np.random.RandomState(3)
  for member, kind in enumerate(kinds):
      train.seed_everything(member)
      two = train.fresh_network(args, vocab, {}, member=member, two_inputs=True)
      values = {name: rng.normal(0, 0.5, param.shape).astype(np.float32)
                for name, param in two.collect_params().items()}
      for name in values:
          if name.endswith("idf_weight"):
              values[name][0] = 0.0  # as training sets it: padding has no idf
      two = train.fresh_network(args, vocab, values, member=member, two_inputs=True)
      one = train.fresh_network(args, vocab, values, member=member)
      for batch in (everything[:7], everything[100:164], everything):
          inputs = train.member_inputs(encoded, batch, train.widest_filter(args, kind))
          cut.append(inputs[0].shape[1] < vocab.max_len and inputs[1].shape[1] < vocab.ngrams.max_ngrams)
          trimmed = two(*inputs).asnumpy()
          full = one(mx.nd.array(batches.full_width(encoded, batch))).asnumpy()
          assert np.allclose(trimmed, full, atol=1e-4), (kind, float(abs(trimmed - full).max()))
      # Scored shortest first on cut inputs, the classes come back in row order.
      assert (train.predict_classes(two, encoded, widest=train.widest_filter(args, kind))
              == train.predict_classes(one, encoded)).all(), kind
assert any(cut), "no batch was cut"
print("same")
'''


@pytest.mark.slow
def test_trimmed_batches_give_the_exported_networks_results(sagemaker_python):
    """The compact encoding (one pass, views included) is vocab.encode's, and every member
    gives the same outputs on inputs cut to the batch as on the exported full-width input."""
    result = subprocess.run([str(sagemaker_python), "-c", _TRIM_SCRIPT, str(ROOT), str(TAB_FILE)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "same"


def test_sm_num_gpus_selects_the_gpu_only_where_mxnet_has_one(sagemaker_python):
    """SageMaker's SM_NUM_GPUS picks mx.gpu(0); with a CPU build of MXNet (here, and in the
    CPU image) the job trains on the CPU and says why."""
    script = ("import os, sys; sys.path[:0] = [sys.argv[1] + '/training', sys.argv[1] + '/inference']; "
              "import mxnet as mx, train; print(train.device(), mx.context.num_gpus())")
    for gpus in ("0", "1"):
        result = subprocess.run([str(sagemaker_python), "-c", script, str(ROOT)], capture_output=True, text=True,
                                timeout=120, env=dict(os.environ, SM_NUM_GPUS=gpus))
        assert result.returncode == 0, result.stderr[-2000:]
        chosen, visible = result.stdout.split()
        assert chosen == ("gpu(0)" if gpus == "1" and int(visible) > 0 else "cpu(0)")
        assert ("MXNet sees no GPU" in result.stderr) == (gpus == "1" and int(visible) == 0)


def test_local_progress_shows_rows_per_second_and_the_projection():
    """`headlines train`: one live line per epoch (rows/s, validation metric), one summary per
    member, and up front the projected time for this file and for the full dataset."""
    from rich.console import Console

    from headlines.local import pipeline as local_pipeline

    console = Console(record=True, width=240)
    with local_pipeline._TrainProgress(console) as progress:
        for member in ("0", "1"):
            for epoch in ("1", "2"):
                progress.line("member={}; epoch={}; train_loss=0.5; val_accuracy=0.8; val_macro_f1=0.7{}; "
                              "seconds=2.0; rows_per_second=40{}7;".format(member, epoch, epoch, epoch))
    text = console.export_text()
    assert "classifier: member 0: 2 epochs, 4027 rows/s in the last, validation macro-F1 0.72" in text
    assert "classifier: member 1: 2 epochs" in text and "epoch=" not in text  # no scroll of raw lines
    local_pipeline._say_how_long(108_000, console)
    estimate = console.export_text()
    assert "for 108,000 rows on a 2-core machine (the full dataset, 422,937 rows: about" in estimate
    assert "projections" in estimate


def test_large_epochs_are_scored_every_validation_rows():
    """Early stopping counts in rows seen: an epoch of 81,000 rows is scored four times, the
    sample's 8,134 rows once (as before), and validation_rows=0 means once per epoch."""
    import train

    assert train.validation_checks(8134, 256, 20000) == {32: 1}
    assert train.validation_checks(81000, 256, 20000) == {79: 0.25, 158: 0.5, 238: 0.75, 317: 1.0}
    assert train.validation_checks(81000, 256, 0) == {317: 1}
    assert train.validation_checks(10, 256, 1) == {1: 1}


def test_checks_score_a_fixed_sample_of_a_large_validation_side():
    """check_rows: a validation side larger than it is scored at each check on a fixed random
    subset of that many rows (the same for every member and check); a smaller one, or 0, whole."""
    import batches
    import train

    encoded = _toy_encoded(np.random.RandomState(0).randint(1, 25, size=1000))
    assert train.check_sample(encoded, 10000, 42) is encoded
    assert train.check_sample(encoded, 0, 42) is encoded
    sample = train.check_sample(encoded, 300, 42)
    assert len(sample) == 300
    assert np.array_equal(batches.full_width(sample, np.arange(300)),
                          batches.full_width(train.check_sample(encoded, 300, 42), np.arange(300)))
    picked = np.sort(np.random.RandomState(42).choice(1000, 300, replace=False))
    assert np.array_equal(batches.full_width(sample, np.arange(300)), batches.full_width(encoded, picked))
    assert np.array_equal(sample.labels, encoded.labels[picked])


def test_taken_rows_and_the_scoring_order_keep_every_row():
    """batches.take copies rows (n-gram ids included) in the order given; scoring_order is a
    permutation of all rows, shortest first (words, then n-grams)."""
    import batches

    lengths = np.random.RandomState(1).randint(1, 25, size=500)
    encoded = _toy_encoded(lengths)
    rows = np.array([499, 3, 3, 0, 250])
    taken = batches.take(encoded, rows)
    assert np.array_equal(batches.full_width(taken, np.arange(len(rows))), batches.full_width(encoded, rows))
    assert np.array_equal(taken.ngram_counts, encoded.ngram_counts[rows])
    order = batches.scoring_order(encoded)
    assert sorted(order.tolist()) == list(range(500))
    assert (np.diff(lengths[order]) >= 0).all()


def test_the_scale_bench_counts_the_rows_of_each_check():
    """bench/scale.py's rows/s per epoch: an epoch scored four times adds its checks' seconds; a
    last, partial epoch (early stopping) counts only its share of the rows."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import scale
    finally:
        sys.path.remove(str(ROOT / "bench"))
    checks = [{"epoch": part, "seconds": 2.5, "cpu_seconds": 5.0} for part in (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)]
    rates, cpu_rates = scale.epoch_rates(checks, 10000)
    assert rates == [pytest.approx(1000.0), pytest.approx(1000.0)]
    assert cpu_rates == [pytest.approx(500.0), pytest.approx(500.0)]
    assert scale.epoch_rates([{"epoch": 1, "seconds": 4.0}], 10000) == ([pytest.approx(2500.0)], [])


def test_cnn_batches_follow_the_data_size():
    """Large data trains in batch_size batches; the sample's 8,134 training rows in batches of 64
    at a sqrt-scaled rate (what its quality was measured with)."""
    import members

    assert members.cnn_batch(256, 0.004, 8134) == (64, pytest.approx(0.002))
    assert members.cnn_batch(256, 0.004, 81000) == (256, 0.004)
    assert members.cnn_batch(256, 0.004, 15000) == (128, pytest.approx(0.004 / 2 ** 0.5))
    assert members.cnn_batch(32, 0.001, 170) == (32, 0.001)  # never above batch_size, at least 32
    assert members.cnn_batch(16, 0.001, 10 ** 6) == (16, 0.001)


def test_default_cnn_batches_keep_the_rates_of_the_batches_of_256():
    """The defaults (batches of up to 512) give the sample's batches of 64 and mid-sized data's
    batches of 256 the rates 0.002 and 0.004 they had with batch_size 256, to the float32 bit
    Adam computes with (the sample's measured quality stands)."""
    import members
    from hyperparameters import CLASSIFIER

    defaults = {spec.name: spec.parse(spec.default) for spec in CLASSIFIER}
    size, rate = defaults["batch_size"], defaults["learning_rate"]
    for rows, batch, expected in ((8134, 64, 0.002), (29973, 256, 0.004), (81000, 512, rate)):
        got_batch, got_rate = members.cnn_batch(size, rate, rows)
        assert got_batch == batch
        assert np.float32(got_rate) == np.float32(expected)


def test_only_large_cnn_batches_are_length_sorted():
    """length_sort_batches applies where a CNN member trains in batches of 256 or more (large
    data), or of a smaller batch_size; the sample's batches of 64, the linear members and the
    seed network keep plain slices."""
    import argparse

    import members

    args = argparse.Namespace(model="textcnn", batch_size=512, learning_rate=0.004, length_sort_batches=32,
                              linear_learning_rate=0.02, linear_weight_decay=3e-4, linear_epochs=20,
                              linear_batch_size=64)
    assert members.member_args(args, "textcnn", 81000).length_sort_batches == 32
    assert members.member_args(args, "textcnn", 29973).length_sort_batches == 32  # batches of 256
    assert members.member_args(args, "textcnn", 15000).length_sort_batches == 0  # of 128
    assert members.member_args(args, "textcnn", 8134).length_sort_batches == 0
    small = argparse.Namespace(**dict(vars(args), batch_size=64))
    assert members.member_args(small, "textcnn", 81000).length_sort_batches == 32
    assert members.member_args(args, "linear", 81000).length_sort_batches == 0
    assert members.member_args(args, "seed", 81000).length_sort_batches == 0


def _toy_encoded(lengths: np.ndarray):
    """Encoded rows of ``lengths`` words and 20 n-grams a word (ids that tell rows apart)."""
    import batches

    tokens = (np.arange(24)[None, :] < lengths[:, None]).astype(np.int32) * 5
    offsets = np.concatenate([[0], np.cumsum(lengths * 20)]).astype(np.int64)
    ids = (np.arange(int(offsets[-1])) % 4000 + 1).astype(np.int32)
    return batches._encoded(tokens, ids, offsets, (np.arange(len(lengths)) % 4).astype(np.float32), 640)


def test_length_sorted_batches_cover_every_row_once_with_little_padding():
    """length_sort_batches: each epoch still visits every row once, in batches of batch_size
    (one short batch per run at most), each run sorted by length, the batches shuffled; the
    same seed gives the same order, and 0 keeps the plain slices of the permutation."""
    import batches

    rng = np.random.RandomState(0)
    lengths = rng.randint(1, 25, size=1000)
    tokens = (np.arange(24)[None, :] < lengths[:, None]).astype(np.int32) * 5
    offsets = np.concatenate([[0], np.cumsum(lengths * 30)]).astype(np.int64)
    encoded = batches._encoded(tokens, np.ones(int(offsets[-1]), dtype=np.int32), offsets,
                               np.zeros(1000, dtype=np.float32), 640)

    def order(sort_run, seed=1):
        return list(batches.batch_order(encoded, 64, np.random.RandomState(seed), sort_run))

    plain, sorted_ = order(0), order(4)
    assert [list(batch) for batch in plain] == [list(batch) for batch in order(0)]
    permutation = np.random.RandomState(1).permutation(1000)
    assert np.array_equal(np.concatenate(plain), permutation)  # what the sample's quality was measured with
    assert sorted(np.concatenate(sorted_).tolist()) == list(range(1000))
    assert [list(batch) for batch in sorted_] == [list(batch) for batch in order(4)]
    assert sum(len(batch) < 64 for batch in sorted_) <= -(-1000 // (64 * 4))
    spread = [int(lengths[batch].max() - lengths[batch].min()) for batch in sorted_]
    assert np.mean(spread) < 0.5 * np.mean([int(lengths[batch].max() - lengths[batch].min()) for batch in plain])



def test_one_openmp_thread_per_physical_core_unless_set(monkeypatch):
    """MXNet would start half the logical CPUs' threads (one on a 2-core machine); train.py
    sets OMP_NUM_THREADS to the physical cores before MXNet loads, and keeps a value given."""
    import train

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MXNET_OMP_MAX_THREADS", raising=False)
    train.set_cpu_threads()
    assert os.environ["OMP_NUM_THREADS"] == str(train.physical_cores())
    assert 1 <= train.physical_cores() <= (os.cpu_count() or 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    train.set_cpu_threads()
    assert os.environ["OMP_NUM_THREADS"] == "3"
