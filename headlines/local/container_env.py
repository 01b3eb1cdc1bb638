"""The SageMaker-shaped second environment: Python 3.8 with AWS's own container toolkits.

`make install` builds it in ``.venv-sagemaker`` (requirements-sagemaker.txt). Local training
runs ``train.py`` through the SageMaker training toolkit there, and local serving runs the MXNet
serving toolkit behind Multi Model Server there, as the SageMaker MXNet 1.9.0 images do.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from headlines import project

# HEADLINES_SAGEMAKER_VENV points elsewhere (a shared or prebuilt environment). A wheel install
# has no checkout: there the default is the current folder's .venv-sagemaker.
VENV_NAME = ".venv-sagemaker"
INSTALL_HINT = "run 'make install' (it needs Python 3.8, e.g. 'pyenv install 3.8.18')"


class ContainerEnvError(Exception):
    """What is missing, and how to get it; one line for the user."""


def venv_dir() -> Path:
    default = (Path.cwd() if project.BUNDLED else project.ROOT) / VENV_NAME
    return Path(os.environ.get("HEADLINES_SAGEMAKER_VENV", default))


def python() -> Path:
    """The environment's interpreter, or a one-line error naming what is missing."""
    candidate = venv_dir() / "bin" / "python"
    if not (candidate.is_file() and (venv_dir() / ".installed").is_file()):
        raise ContainerEnvError(f"the SageMaker-shaped Python 3.8 environment {venv_dir()} is missing: {INSTALL_HINT}")
    return candidate


def available() -> Optional[str]:
    """None when the environment is usable, else the reason it is not (for skips and notes)."""
    try:
        python()
    except ContainerEnvError as error:
        return str(error)
    return None


def java() -> Path:
    """Multi Model Server's frontend is Java; a one-line error when no JDK is on PATH."""
    found = shutil.which("java")
    if not found:
        raise ContainerEnvError("Multi Model Server needs Java 11+ on PATH: install OpenJDK 17 "
                                "(Debian: 'apt-get install openjdk-17-jre-headless')")
    return Path(found)


def run(args, **kwargs) -> subprocess.CompletedProcess:
    """Runs ``python args...`` in the environment."""
    return subprocess.run([str(python()), *args], **kwargs)
