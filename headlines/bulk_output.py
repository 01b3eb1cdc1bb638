"""The answers of bulk scoring as CSV or JSON Lines, one row per scored headline, in input order.

Each row carries the input's line number (``line``), so that a row skipped as bad leaves no doubt
which answer belongs to which headline. Columns (CSV) / fields (JSON Lines): ``line``,
``headline``, ``category``, ``label``, ``confidence``, the four scores (CSV: ``score_<category>``;
JSON Lines: ``scores``) and ``model_version``.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO, Any, Dict, List, Mapping, Optional, Sequence

OUTPUT_FORMATS = ("csv", "jsonl")
_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


def output_format(path: Path, explicit: Optional[str]) -> str:
    """``--output-format``, else the output file's extension; ValueError when neither says."""
    if explicit:
        return explicit
    found = _BY_SUFFIX.get(path.suffix.lower())
    if found is None:
        raise ValueError(f"{path}: cannot tell the output format from the extension '{path.suffix}': "
                         f"name it .csv or .jsonl, or pass --output-format {'/'.join(OUTPUT_FORMATS)}")
    return found


class AnswerWriter:
    """Writes rows of ``(line, headline, prediction)`` to an open text handle."""

    def __init__(self, handle: IO[str], kind: str, model_version: str):
        self.handle = handle
        self.kind = kind
        self.model_version = model_version
        self._csv: Optional[Any] = None
        self._categories: List[str] = []

    def write(self, lines: Sequence[int], headlines: Sequence[str], predictions: Sequence[Mapping[str, Any]]) -> None:
        if len(predictions) != len(headlines):  # never a silent shift of answers against headlines
            raise RuntimeError(f"the model answered {len(predictions)} predictions for {len(headlines)} headlines")
        if self.kind == "jsonl":
            self.handle.write("".join(
                json.dumps(self._record(line, text, prediction), ensure_ascii=False) + "\n"
                for line, text, prediction in zip(lines, headlines, predictions)))
            return
        if self._csv is None:
            self._categories = list(predictions[0]["scores"]) if predictions else []
            self._csv = csv.writer(self.handle, lineterminator="\n")
            self._csv.writerow(["line", "headline", "category", "label", "confidence",
                                *(f"score_{name}" for name in self._categories), "model_version"])
        self._csv.writerows(
            [line, text, prediction["category"], prediction["label"], prediction["confidence"],
             *(prediction["scores"][name] for name in self._categories), self.model_version]
            for line, text, prediction in zip(lines, headlines, predictions))

    def _record(self, line: int, text: str, prediction: Mapping[str, Any]) -> Dict[str, Any]:
        return {"line": line, "headline": text, "category": prediction["category"], "label": prediction["label"],
                "confidence": prediction["confidence"], "scores": prediction["scores"], "model_version": self.model_version}
