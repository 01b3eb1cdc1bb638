"""The champion on the challenger's held-out rows (runs on Python 3.8, in the training image).

The ``champion`` channel (optional) holds the approved model: its ``model.tar.gz`` (SageMaker
copies the S3 object into the channel) or its unpacked folder (local runs). It is loaded as the
serving container loads it (inference.HeadlineModel: its own vocabulary and network) and
scored on the very rows the new model is tested on, so the gate compares like with like.
"""
import hashlib
import os
import tarfile
import tempfile
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from metrics import classification_report
from news_data import LABELS, Headline


def rows_checksum(rows: Sequence[Headline]) -> Dict[str, object]:
    """The test rows' count and SHA-256 (of ``label TAB title`` lines, in order): both models
    are scored on the rows with this checksum."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update("{}\t{}\n".format(row.label, row.title).encode("utf-8"))
    return {"count": len(rows), "sha256": digest.hexdigest()}


def _model_folder(channel: str, scratch: str) -> Optional[str]:
    if os.path.isfile(os.path.join(channel, "metrics.json")):
        return channel
    archives = sorted(name for name in os.listdir(channel) if name.endswith(".tar.gz"))
    if not archives:
        return None
    with tarfile.open(os.path.join(channel, archives[0])) as tar:
        members = [member for member in tar.getmembers()
                   if not (member.name.startswith("/") or ".." in member.name.split("/")) and not member.issym()
                   and not member.islnk()]
        tar.extractall(scratch, members=members)
    return scratch


def score_champion(channel: Optional[str], rows: List[Headline]) -> Optional[Dict[str, Any]]:
    """The champion's accuracy and macro-F1 on ``rows``; None without a champion channel (or an empty one)."""
    if not channel or not os.path.isdir(channel):
        return None
    from inference import HeadlineModel

    with tempfile.TemporaryDirectory() as scratch:
        folder = _model_folder(channel, scratch)
        if folder is None:
            return None
        model = HeadlineModel(folder)
        probabilities = model.probabilities([row.title for row in rows])
    # The champion's class order is its labels.json; the report uses this code's order.
    ours = {code: index for index, (code, _) in enumerate(LABELS)}
    predicted = np.asarray([ours[model.labels[index][0]] for index in probabilities.argmax(axis=1)], dtype=np.int64)
    truth = np.asarray([ours[row.label] for row in rows], dtype=np.int64)
    report = classification_report(truth, predicted, [name for _, name in LABELS])
    return {"model_version": model.info["version"], "accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}
