"""The notebooks under notebooks/: kept without outputs in git, and each runs top to bottom
offline, with a kernel of this environment, on tiny data (their parameters cell overridden the
way papermill does: a cell injected after the one tagged ``parameters``)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict

import nbformat
import pytest
from nbclient import NotebookClient

from headlines.config import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
NAMES = ("01-word-vectors.ipynb", "02-classifier.ipynb", "03-deployed-stack.ipynb")
# The figures the notebooks must draw (cells tagged figure-...), by notebook.
FIGURES = {
    "01-word-vectors.ipynb": {"figure-ws353", "figure-word-map"},
    "02-classifier.ipynb": {"figure-curves", "figure-confusion", "figure-per-class", "figure-seed-baseline"},
    "03-deployed-stack.ipynb": {"figure-compare"},
}
CELL_TIMEOUT_S = 600


def test_every_notebook_is_listed():
    assert sorted(path.name for path in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_kept_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: strip the outputs before committing"
    parameters = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1, f"{name}: one cell tagged 'parameters'"


def with_parameters(notebook, values: Dict[str, Any]):
    """papermill's convention: the overrides in a cell right after the one tagged 'parameters'."""
    index = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    injected = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(index + 1, injected)
    return notebook


@pytest.fixture(scope="module")
def tiny_parameters(tiny_news, tiny_corpus, tmp_path_factory) -> Dict[str, Any]:
    # One work directory for the three, as for a person running them in order (vectors cached).
    return {"workdir": str(tmp_path_factory.mktemp("notebook-workdir")), "use_aws": False,
            "corpus": str(tiny_corpus), "data": str(tiny_news), "epochs": 2, "linear_epochs": 3,
            "map_words": 120}


@pytest.mark.slow
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom_and_draws_its_figures(name, tiny_parameters, tmp_path):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    declared = next(cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])).source
    values = {key: value for key, value in tiny_parameters.items() if f"\n{key} =" in "\n" + declared}
    with_parameters(notebook, values)
    env_before = dict(os.environ)
    os.environ.update(MPLBACKEND="module://matplotlib_inline.backend_inline", AWS_EC2_METADATA_DISABLED="true")
    try:
        NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    drawn = {tag for cell in notebook.cells if cell.cell_type == "code"
             for tag in cell.metadata.get("tags", []) if tag.startswith("figure-")
             if any("image/png" in output.get("data", {}) for output in cell.outputs)}
    assert drawn == FIGURES[name]
    text = "\n".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for output in cell.outputs if output.get("output_type") == "stream")
    if "use_aws" in values:  # with no AWS account it says what it runs against
        assert "running against the local stand-ins" in text
    (tmp_path / name).write_text(json.dumps(notebook))  # the executed copy, to read when a check fails
