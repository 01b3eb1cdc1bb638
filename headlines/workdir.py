"""The local work directory's layout that several commands share: where it is and where the
current model is. A module of its own so that commands that only read the work directory
(``headlines results``) start without loading the training pipeline (gensim, MXNet's helpers)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

DEFAULT_WORKDIR = Path(os.environ.get("HEADLINES_WORKDIR", ".headlines"))
CURRENT_MODEL = "model"


def current_model(workdir: Path) -> Optional[Path]:
    """The workdir's current (unpacked) model, None when there is none."""
    model_dir = Path(workdir) / CURRENT_MODEL
    return model_dir if (model_dir / "metrics.json").is_file() else None
