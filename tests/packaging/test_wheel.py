"""A non-editable install works: the wheel carries the project's files that live outside the
package (headlines/project.py's BUNDLE, copied by setup.py), and the installed package finds
and uses them instead of a checkout."""
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from headlines import project
from headlines.sourcedir import build_sourcedir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from this checkout, unpacked as pip installs it (no dependencies: the
    test environment has them), in a folder of its own."""
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy of the files git knows (a build/ folder left in the checkout could
    # carry stale modules into the wheel, and the test must not write into the checkout).
    source = out / "source"
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=project.ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for relative in filter(None, listed):
        if (project.ROOT / relative).is_file():
            (source / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project.ROOT / relative, source / relative)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out / "dist"), str(source)], check=True, capture_output=True)
    (wheel,) = (out / "dist").glob("headlines_mlops-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(out / "site"),
                    str(wheel)], check=True, capture_output=True)
    return out


def run_installed(installed: Path, code: str) -> subprocess.CompletedProcess:
    """Python with the installed copy first on the path, outside the checkout."""
    env = {"PYTHONPATH": str(installed / "site"), "PATH": "/usr/bin:/bin", "HOME": str(installed)}
    return subprocess.run([sys.executable, "-c", code], cwd=installed, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_wheel_bundles_every_file_the_package_reads_outside_itself(installed):
    (wheel,) = (installed / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for relative in ("cdk.json", "api/openapi.yaml", "training/train.py", "inference/inference.py",
                     "functions/api/app.py", "functions/api/web/index.html", "functions/ingest/ingest.py"):
        assert f"headlines/_project/{relative}" in names, relative
    assert not any(name.startswith(("devtools/", "tests/", "bench/")) for name in names)


def test_the_installed_package_reads_its_bundled_copy_and_builds_the_same_sourcedir(installed, tmp_path):
    checkout_sourcedir = build_sourcedir(tmp_path / "sourcedir.tar.gz").read_bytes()
    result = run_installed(installed, (
        "import json, sys, tempfile, pathlib\n"
        "from headlines import project\n"
        "from headlines.config import load_config\n"
        "from headlines.sourcedir import build_sourcedir\n"
        "from headlines.local.api_front import HANDLER_FILE\n"
        "folder = pathlib.Path(tempfile.mkdtemp())\n"
        "sourcedir = build_sourcedir(folder / 'sourcedir.tar.gz').read_bytes().hex()\n"
        "print(json.dumps({'bundled': project.BUNDLED, 'root': str(project.ROOT), 'handler': HANDLER_FILE.is_file(),\n"
        "  'config': load_config().model_dump(mode='json'), 'sourcedir': sourcedir}))\n"))
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["bundled"] and seen["root"].startswith(str(installed / "site")) and seen["handler"]
    from headlines.config import load_config

    assert seen["config"] == load_config().model_dump(mode="json")
    assert bytes.fromhex(seen["sourcedir"]) == checkout_sourcedir


def test_the_installed_command_line_runs(installed):
    result = run_installed(installed, "import sys; from headlines.cli import main; sys.exit(main(['--help']))")
    assert result.returncode == 0, result.stderr
    assert "usage: headlines" in result.stdout
