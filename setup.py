"""Only one thing pyproject.toml cannot say: a wheel must carry the project's files that live
outside the package (cdk.json, api/openapi.yaml, training/, inference/, functions/), so that a
non-editable install trains, serves and synthesizes the same code. They are copied into
``headlines/_project/`` at build time; ``headlines/project.py`` finds them there. Editable
installs (and the checkout) read them in place."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def bundle_files():
    """(relative path) of every file the wheel bundles: headlines/project.py's BUNDLE."""
    source = HERE / "headlines" / "project.py"
    namespace = {"__file__": str(source), "__name__": "headlines_project_for_setup"}
    exec(source.read_text(encoding="utf-8"), namespace)  # not imported: setup runs before the package is installed
    for entry, patterns in namespace["BUNDLE"]:
        if not patterns:
            yield Path(entry)
        for pattern in patterns:
            yield from sorted(path.relative_to(HERE) for path in (HERE / entry).glob(pattern) if path.is_file())


class BuildWithProjectFiles(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "headlines" / "_project"
        for relative in bundle_files():
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(HERE / relative, destination)


setup(cmdclass={"build_py": BuildWithProjectFiles})
