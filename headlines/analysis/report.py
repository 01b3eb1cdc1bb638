"""``headlines report``: one HTML page with PNG figures about a model.

Per-epoch validation curves (``history`` in metrics.json), the test confusion matrix,
per-class precision/recall/F1, how confident right and wrong answers are, the most confident
errors (the model scored again, through its own serving code, on its held-out test stories or
a given file) and the word vectors' nearest neighbours. Figures are drawn with matplotlib's
object API on the Agg canvas: no display and no global pyplot state.
"""
from __future__ import annotations

import html
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from headlines.analysis import evaluate
from headlines.local.sources import InputError, sample_news_copy

GENERATOR = "headlines report"
# Words a headline reader knows the neighbours of, a few per category; the first
# PROBES_SHOWN of them that the vectors know are shown.
PROBE_WORDS = ("market", "bank", "oil", "money", "google", "apple", "phone", "computer", "science", "film",
               "music", "singer", "actor", "cancer", "drug", "virus", "disease", "hospital")
PROBES_SHOWN = 12
NEIGHBOURS = 8
VECTOR_WORDS_LOADED = 50000  # most frequent words read from vectors.txt (enough for neighbours)
ERRORS_SHOWN = 15
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
DPI = 110


@dataclass
class Section:
    title: str
    figure: Optional[str] = None  # PNG file name in the report folder
    note: str = ""  # one line under the title (plain text)
    table: str = ""  # HTML


@dataclass
class Report:
    model: Dict[str, Any]
    sections: List[Section] = field(default_factory=list)


# --- figures ------------------------------------------------------------------------------------
def _save(figure: Figure, folder: Path, name: str) -> str:
    FigureCanvasAgg(figure)  # Agg: raster output with no display, whatever MPLBACKEND says
    figure.savefig(folder / name, dpi=DPI, bbox_inches="tight", facecolor="white")
    return name


def curves_figure(history: Dict[str, List[Dict[str, float]]]) -> Figure:
    """Validation macro-F1 and accuracy, and training loss, per epoch, one line per member."""
    figure = Figure(figsize=(10, 3.6))
    f1_axis, accuracy_axis, loss_axis = figure.subplots(1, 3)
    for number, (member, epochs) in enumerate(history.items()):
        colour = f"C{number}"
        x = [row["epoch"] for row in epochs]
        f1 = [row.get("validation_macro_f1") for row in epochs]
        f1_axis.plot(x, f1, marker="o", color=colour, label=member)
        accuracy_axis.plot(x, [row.get("validation_accuracy") for row in epochs], marker="o", color=colour)
        loss_axis.plot(x, [row.get("train_loss") for row in epochs], marker="o", color=colour)
        if any(value is not None for value in f1):
            best = int(np.nanargmax(np.asarray(f1, dtype=float)))
            f1_axis.scatter([x[best]], [f1[best]], s=140, facecolors="none", edgecolors=colour, linewidths=2)
    f1_axis.set_title("validation macro-F1 (circle: best epoch)")
    accuracy_axis.set_title("validation accuracy")
    loss_axis.set_title("training loss")
    if all(row.get("train_loss", 0) > 0 for epochs in history.values() for row in epochs):
        loss_axis.set_yscale("log")
    for axis in (f1_axis, accuracy_axis, loss_axis):
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.xaxis.get_major_locator().set_params(integer=True)
    f1_axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure


def confusion_figure(matrix: Sequence[Sequence[int]], names: Sequence[str]) -> Figure:
    """Counts, coloured by the share of the true class (each row sums to 100 %)."""
    counts = np.asarray(matrix, dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure = Figure(figsize=(6.2, 5.2))
    axis = figure.subplots()
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row in range(len(names)):
        for column in range(len(names)):
            dark = shares[row, column] > 0.6
            axis.text(column, row, f"{int(counts[row, column]):,}\n{shares[row, column]:.0%}", ha="center",
                      va="center", fontsize=10, color="white" if dark else "black")
    short = [name.replace("_", "\n") for name in names]
    axis.set_xticks(range(len(names)), short)
    axis.set_yticks(range(len(names)), short)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title("confusion matrix (test)")
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="share of the true class")
    figure.tight_layout()
    return figure


def per_class_figure(per_class: Dict[str, Dict[str, float]]) -> Figure:
    names = list(per_class)  # in the model's label order
    figure = Figure(figsize=(8, 3.8))
    axis = figure.subplots()
    width = 0.26
    positions = np.arange(len(names))
    for offset, (metric, colour) in enumerate((("precision", "#4c72b0"), ("recall", "#dd8452"), ("f1", "#55a868"))):
        values = [per_class[name][metric] for name in names]
        bars = axis.bar(positions + (offset - 1) * width, values, width, label=metric, color=colour)
        axis.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    axis.set_xticks(positions, [f"{name}\n(n={per_class[name]['support']:,})" for name in names])
    axis.set_ylim(0, 1.2)
    axis.set_yticks(np.linspace(0, 1, 6))
    axis.set_ylabel("score")
    axis.set_title("per-class precision, recall and F1 (test)")
    axis.legend(ncol=3, fontsize=8, loc="upper center", frameon=False)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure


def confidence_figure(confidences: Dict[str, List[float]]) -> Figure:
    """Histogram of the top probability, right answers against wrong ones."""
    figure = Figure(figsize=(8, 3.4))
    axis = figure.subplots()
    bins = [float(edge) for edge in np.linspace(0.25, 1.0, 31)]
    axis.hist(confidences["correct"], bins=bins, alpha=0.7, color="#55a868",
              label=f"right ({len(confidences['correct']):,})")
    axis.hist(confidences["wrong"], bins=bins, alpha=0.8, color="#c44e52",
              label=f"wrong ({len(confidences['wrong']):,})")
    axis.set_yscale("log")
    axis.set_xlabel("confidence (probability of the predicted class)")
    axis.set_ylabel("headlines (log scale)")
    axis.set_title("how sure the model is when right and when wrong")
    axis.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure


def neighbours_figure(groups: Dict[str, List[Tuple[str, float]]]) -> Figure:
    """One small bar chart per probe word: its nearest neighbours and their cosine similarity."""
    columns = 4
    rows = max(1, -(-len(groups) // columns))
    figure = Figure(figsize=(11, 2.3 * rows))
    axes = np.asarray(figure.subplots(rows, columns, squeeze=False)).ravel()
    for number, (axis, (probe, neighbours)) in enumerate(zip(axes, groups.items())):
        words = [word for word, _ in neighbours][::-1]
        similarities = [similarity for _, similarity in neighbours][::-1]
        axis.barh(range(len(words)), similarities, color=f"C{number % 10}", alpha=0.8)
        axis.set_yticks(range(len(words)), words, fontsize=8)
        axis.set_xlim(0, 1)
        axis.set_title(probe, fontsize=11, fontweight="bold")
        axis.tick_params(axis="x", labelsize=7)
        axis.grid(axis="x", alpha=0.3)
    for axis in axes[len(groups):]:
        axis.set_visible(False)
    figure.suptitle("nearest neighbours in the word vectors (cosine similarity)", fontsize=12)
    figure.tight_layout()
    return figure


# --- data ---------------------------------------------------------------------------------------
def latest_vectors(workdir: Path) -> Optional[Path]:
    """The newest word vectors the local pipeline trained in this workdir (BlazingText's
    ``model.tar.gz``, as the classifier's embeddings channel holds them)."""
    found = sorted((workdir / "embeddings").glob("*/model.tar.gz"), key=lambda path: path.stat().st_mtime)
    return found[-1] if found else None


def vectors_text(vectors: Path, scratch: Path) -> Path:
    """``vectors.txt`` itself, or the one inside a BlazingText ``model.tar.gz`` (unpacked into
    ``scratch``, with its ``eval.json`` beside it)."""
    if not tarfile.is_tarfile(vectors):
        return vectors
    text = evaluate.unpack_model(vectors, scratch) / "vectors.txt"
    if not text.is_file():
        raise InputError(f"{vectors}: a tarball without vectors.txt (not BlazingText's model.tar.gz)")
    return text


def default_news(workdir: Path, news_url: str) -> Optional[Path]:
    """The news file ``headlines train`` used by default, if it is in the workdir (never
    downloaded here): the cached public dataset, else the shipped sample it fell back to
    (unpacked under ``sample/<its SHA-256>/``)."""
    for candidate in (workdir / "raw" / "news" / Path(news_url.split("?")[0]).name, sample_news_copy(workdir)):
        if candidate.is_file():
            return candidate
    return None


def word_neighbours(vectors_file: Path, probes: Sequence[str] = PROBE_WORDS,
                    count: int = NEIGHBOURS) -> Dict[str, List[Tuple[str, float]]]:
    """probe -> [(neighbour, cosine similarity)], for the probes in the vocabulary."""
    from gensim.models import KeyedVectors

    try:
        vectors = KeyedVectors.load_word2vec_format(str(vectors_file), binary=False, limit=VECTOR_WORDS_LOADED)
    except (ValueError, UnicodeDecodeError, OSError) as error:
        raise InputError(f"{vectors_file}: not word2vec text format ({error})") from error
    groups = {probe: [(word, float(similarity)) for word, similarity in vectors.most_similar(probe, topn=count)]
              for probe in [probe for probe in probes if probe in vectors.key_to_index][:PROBES_SHOWN]}
    return groups


def test_rows(model: evaluate.LoadedModel, data: Path, explicit: bool):
    """(rows to score, what they are): the model's held-out test stories when ``data`` is the
    file it was trained on (same row count: the split is rebuilt with its own seed and
    fractions), else, when the user named the file, all of it."""
    loaded = evaluate.load_rows(data)
    trained = model.metrics.get("data", {})
    hyperparameters = model.metrics.get("hyperparameters", {})
    if trained.get("test_source") == "held-out stories" and trained.get("rows") == len(loaded.rows):
        split = evaluate.news_data().make_split(
            loaded.rows, hyperparameters.get("split", "story"), float(hyperparameters.get("validation_fraction", 0.1)),
            float(hyperparameters.get("test_fraction", 0.15)), int(hyperparameters.get("seed", 42)))
        return split.test, f"the {len(split.test):,} held-out test headlines of {data}"
    if explicit:
        return loaded.rows, f"all {len(loaded.rows):,} headlines of {data}"
    if trained.get("test_source") == "file":
        return None, "this model was tested on a file of its own (--test-data): pass that file with --data FILE"
    return None, (f"{data} is not the file this model was trained on ({len(loaded.rows):,} rows, the model saw "
                  f"{trained.get('rows', '?')}): pass --data FILE to score it on a file")


# --- HTML ---------------------------------------------------------------------------------------
def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(
        f"<td class='{classes[index] if index < len(classes) else ''}'>{html.escape(str(cell))}</td>"
        for index, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
.summary { display: flex; gap: 1em; flex-wrap: wrap; margin: 1em 0; }
.card { background: #f4f6fa; border-radius: 8px; padding: 0.7em 1.1em; min-width: 9em; }
.card b { display: block; font-size: 1.6em; }
.note { color: #555; } img { max-width: 100%; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.6em 0; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; }
th { background: #f4f6fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrong { color: #b22; } td.headline { max-width: 34em; }
"""


def render_html(report: Report) -> str:
    model = report.model
    cards = "".join(f"<div class='card'>{html.escape(label)}<b>{html.escape(value)}</b></div>"
                    for label, value in model["cards"])
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><meta name='generator' content='{GENERATOR}'>",
             f"<title>headlines model {html.escape(model['version'])}</title><style>{STYLE}</style></head><body>",
             f"<h1>Headline classifier {html.escape(model['version'])}</h1>",
             f"<p class='note'>{html.escape(model['description'])}</p><div class='summary'>{cards}</div>"]
    for section in report.sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.note:
            parts.append(f"<p class='note'>{html.escape(section.note)}</p>")
        if section.figure:
            parts.append(f"<img src='{html.escape(section.figure)}' alt='{html.escape(section.title)}'>")
        parts.append(section.table)
    parts.append("</body></html>")
    return "\n".join(parts)


# --- the report ---------------------------------------------------------------------------------
def _history_section(metrics: Dict[str, Any], folder: Path) -> Section:
    history = metrics.get("history")
    if not history:
        return Section("Training curves", note="no per-epoch history in this model (its metrics.json has no "
                                               "'history'; models trained before it was recorded)")
    members = ", ".join(f"{name}: {len(epochs)} epochs" for name, epochs in history.items())
    return Section("Training curves", _save(curves_figure(history), folder, "curves.png"),
                   note=f"per epoch, on the validation stories ({members})")


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def _errors_table(mistakes: Sequence[Dict[str, Any]]) -> str:
    return _table(("confidence", "headline", "true", "predicted"),
                  [(f"{m['confidence']:.3f}", m["headline"], m["true"], m["predicted"]) for m in mistakes],
                  classes=("num", "headline", "", "wrong"))


def build(model_dir: Path, model_path: Path, out: Path, data: Optional[Path], vectors: Optional[Path],
          explicit_data: bool) -> Report:
    """Writes the figures into ``out`` and returns what the page shows (``model_dir``: the
    unpacked artifact; ``model_path``: what the user named)."""
    model = evaluate.load_model(model_dir)
    metrics = model.metrics
    test = metrics.get("test", metrics)
    names = [label["name"] for label in model.labels]
    trained = metrics.get("data", {})
    training = metrics.get("training", {})
    report = Report(model={
        "version": model.version,
        "description": (f"{metrics.get('model', '?')} model, trained on {_count(trained.get('train'))} headlines "
                        f"({trained.get('split', '?')} split, {trained.get('format', '?')}); test on "
                        f"{_count(trained.get('test'))} headlines ({trained.get('test_source', '?')}); "
                        f"{training.get('seconds', '?')} s of training. From {model_path}."),
        "cards": [("test accuracy", f"{metrics.get('accuracy', float('nan')):.4f}"),
                  ("test macro-F1", f"{metrics.get('macro_f1', float('nan')):.4f}"),
                  ("validation macro-F1", f"{metrics.get('validation', {}).get('macro_f1', float('nan')):.4f}"),
                  ("members", str(len(training.get("members", [])) or "?"))],
    })
    report.sections.append(_history_section(metrics, out))

    matrix = test.get("confusion_matrix", {})
    if matrix:
        report.sections.append(Section("Confusion matrix", _save(confusion_figure(
            matrix["rows_true_columns_predicted"], matrix.get("labels", names)), out, "confusion.png"),
            note="rows: the true category; columns: what the model answered"))
    per_class = test.get("per_class")
    if per_class:
        per_class = {name: per_class[name] for name in names if name in per_class} or per_class
        table = _table(("class", "precision", "recall", "F1", "support"),
                       [(name, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", f"{s['support']:,}")
                        for name, s in per_class.items()], classes=("", "num", "num", "num", "num"))
        report.sections.append(Section("Per-class scores", _save(per_class_figure(per_class), out, "per_class.png"),
                                       table=table))

    if data is None:
        report.sections.append(Section("Most confident errors", note="no data file: pass --data FILE"))
    else:
        rows, what = test_rows(model, data, explicit_data)
        if rows is None:
            report.sections.append(Section("Most confident errors", note=what))
        else:
            scores = evaluate.score(model, rows, errors=ERRORS_SHOWN)
            report.sections.append(Section(
                "Confidence, right and wrong", _save(confidence_figure(scores["confidences"]), out, "confidence.png"),
                note=f"scored again through the model's own serving code on {what}: accuracy "
                     f"{scores['accuracy']:.4f}, macro-F1 {scores['macro_f1']:.4f}"))
            report.sections.append(Section(
                "Most confident errors", note=f"the {len(scores['most_confident_errors'])} wrong answers the model "
                                              "was surest of (some are label noise: read them)",
                table=_errors_table(scores["most_confident_errors"])))

    if vectors is None:
        report.sections.append(Section("Word-vector neighbours", note="no word vectors found: pass --vectors FILE"))
    else:
        with tempfile.TemporaryDirectory(prefix="headlines-vectors-") as scratch:
            text = vectors_text(vectors, Path(scratch))
            groups = word_neighbours(text)
            evaluation = text.parent / "eval.json"
            rho = json.loads(evaluation.read_text(encoding="utf-8")).get("mean_rho") if evaluation.is_file() else None
        quality = ""
        if rho is not None:
            quality = f"; WS-353 Spearman rho {rho:.3f} (higher is better; word2vec on the full text8 typically reaches about 0.7)"
        table = _table(("word", f"{NEIGHBOURS} nearest neighbours (cosine similarity)"),
                       [(probe, ", ".join(f"{word} {similarity:.2f}" for word, similarity in neighbours))
                        for probe, neighbours in groups.items()])
        report.sections.append(Section(
            "Word-vector neighbours", _save(neighbours_figure(groups), out, "neighbours.png") if groups else None,
            note=f"the vectors the classifier started from: {vectors}{quality}", table=table))
    return report


def _replaceable(folder: Path) -> bool:
    index = folder / "index.html"
    return not folder.exists() or (index.is_file() and GENERATOR in index.read_text(encoding="utf-8")[:400])


def write_report(model_path: Path, out: Path, data: Optional[Path] = None, vectors: Optional[Path] = None,
                 explicit_data: bool = True) -> Path:
    """Builds the report in a temporary folder beside ``out``, then puts it in place (a
    half-written report never sits under the final name); returns ``out/index.html``."""
    out = Path(out)
    if not _replaceable(out):
        raise InputError(f"{out} exists and is not a headlines report: pick another --out")
    if vectors is not None and not Path(vectors).is_file():
        raise InputError(f"{vectors}: no such word-vector file")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with tempfile.TemporaryDirectory(prefix="headlines-model-") as scratch:
            model_dir = evaluate.unpack_model(Path(model_path), Path(scratch))
            report = build(model_dir, Path(model_path), staging, data, vectors, explicit_data)
        (staging / "index.html").write_text(render_html(report), encoding="utf-8")
        os.chmod(staging, 0o755)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out / "index.html"
