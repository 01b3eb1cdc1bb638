"""Imports a module from a file path: the Lambda functions (``functions/<fn>/``, not a package,
since ``lambda`` is a keyword) and the artifact's ``code/inference.py`` run unchanged locally."""
from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from headlines.project import FUNCTIONS_DIR


def load_file_module(name: str, path: Path) -> ModuleType:
    """Loads ``path`` as module ``name``; its folder goes on sys.path for its own imports."""
    folder = str(Path(path).parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, str(path))
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]  # a half-imported module must not be found next time
        raise
    return module


@functools.lru_cache(maxsize=None)
def load_lambda(function: str, entry: str) -> ModuleType:
    """``load_lambda("ingest", "ingest")`` -> the module functions/ingest/ingest.py, loaded once
    (loading it again would make new exception classes that ``except`` clauses miss)."""
    return load_file_module(f"headlines_lambda_{function}_{entry}", FUNCTIONS_DIR / function / f"{entry}.py")
