"""The commands and figures shown in README.md and docs/*.md stay true, and the README stays short.

Every command in a fenced shell block, every ``headlines ...`` line of the command-line
synopsis and every inline ``headlines``/``make``/``bench`` command is checked:

- ``headlines`` commands: each subcommand and flag exists in the real parser (AWS ones too);
- ``make X``: the Makefile has the target; scripts (``bench/*.py``, ``python -m headlines.X``):
  the file exists and defines each flag shown;
- commands against the local API (``curl``, ``headlines classify``, the Python snippets) run
  for real against ``headlines serve`` of a tiny model, the local port in place of 8080;
- commands that need an AWS account are recognised as such: those of the sections that say
  so (README "Deploy to AWS", all of docs/aws.md) and the AWS tools (``npx cdk deploy``,
  ``aws ...``). ``npx cdk synth``/``list`` run offline and are the CDK synthesis tests' job
  (tests/infra).

A command that fits none of these fails the test: check it here, or mark it as needing AWS.

The figures: the examples' metrics are the benchmark's (docs/benchmarks.md), every table of
figures names the benchmark that prints it, the troubleshooting table quotes real messages.
The README: at most 250 lines, the two commands, every link and image it has resolves. The
images the docs embed are the ones the browser tests write (tests/conftest.py: DOCS_SCREENSHOTS).
The site build itself (broken links and anchors inside docs/) is `make docs`, run by `make test`.
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from headlines.cli import commands as cli
from headlines.local.endpoint import free_port
from headlines.project import ROOT as REPO_ROOT

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
BENCHMARKS = REPO_ROOT / "docs" / "benchmarks.md"
TROUBLESHOOTING = REPO_ROOT / "docs" / "troubleshooting.md"
README_MAX_LINES = 250
SHELL_INFO = {"bash", "sh", "shell", "console"}
# Sections (file, level-2 heading; "*" for the whole file) whose commands need an AWS account.
AWS_SECTIONS = {("README.md", "Deploy to AWS"), ("aws.md", "*")}
AWS_PREFIXES = ("npx cdk bootstrap", "npx cdk deploy", "npx cdk destroy", "aws ", "export AWS_", "KEY=$(aws")
SYNTH_PREFIXES = ("npx cdk synth", "npx cdk list", "npx cdk ls")
INLINE_COMMANDS = ("headlines ", ".venv/bin/headlines ", "make ", "bench/", ".venv/bin/python bench/",
                   "python -m headlines.")
LOCAL_PORT = "8080"
VERSION_FORMAT = re.compile(r"^[0-9a-f]{16}$")  # train.py: the first 16 hex digits of the parameters' SHA-256


@dataclass(frozen=True)
class Command:
    file: str
    line: int
    section: str
    text: str
    kind: str  # "shell" (fenced shell block), "synopsis" (a bare fenced block), "inline", "python"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.text}"

    @property
    def needs_aws(self) -> bool:
        return ((self.file, self.section) in AWS_SECTIONS or (self.file, "*") in AWS_SECTIONS
                or self.text.startswith(AWS_PREFIXES) or "execute-api" in self.text or "$(aws " in self.text)


def _logical_lines(lines: List[str], first: int) -> Iterator[tuple]:
    """Shell lines with ``\\`` continuations joined; full-line comments dropped."""
    pending, start = "", first
    for number, line in enumerate(lines, first):
        if not pending:
            start = number
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        yield start, pending + stripped
        pending = ""


def _without_comment(text: str) -> str:
    """A shell line without its trailing ``# ...`` comment (quotes respected)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=False)
    lexer.whitespace_split, lexer.commenters = True, "#"
    try:
        words = list(lexer)
    except ValueError:
        return text
    if not words:
        return ""
    # Cut the original text after the last word shlex kept, so quoting stays as written.
    index = text.find(" #")
    while index != -1:
        try:
            if shlex.split(text[:index]) == words:
                return text[:index].rstrip()
        except ValueError:
            pass
        index = text.find(" #", index + 1)
    return text.rstrip()


def markdown_commands() -> List[Command]:
    commands: List[Command] = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        section, fence, fence_info, block, block_start = "", None, "", [], 0
        for number, line in enumerate(lines, 1):
            if fence is not None:
                if line.startswith(fence):
                    commands += _block_commands(path.name, section, fence_info, block, block_start)
                    fence = None
                else:
                    block.append(line)
                continue
            match = re.match(r"^(`{3,})\s*(\S*)", line)
            if match:
                fence, fence_info, block, block_start = match.group(1), match.group(2).lower(), [], number + 1
                continue
            if line.startswith("## "):
                section = line[3:].strip()
            for span in re.findall(r"`([^`\n]+)`", line):
                if span.startswith(INLINE_COMMANDS):
                    commands.append(Command(path.name, number, section, span.strip(), "inline"))
    return commands


def _block_commands(file: str, section: str, info: str, block: List[str], start: int) -> List[Command]:
    if info in SHELL_INFO:
        return [Command(file, number, section, _without_comment(text), "shell")
                for number, text in _logical_lines(block, start) if _without_comment(text)]
    if info == "python":
        return [Command(file, start, section, "\n".join(block), "python")]
    if info == "":
        return [Command(file, number, section, line.strip(), "synopsis")
                for number, line in enumerate(block, start) if line.startswith("headlines ")]
    return []


COMMANDS = markdown_commands()


# ---- headlines commands: the parser knows every subcommand and flag ---------------------------

def _subparsers(parser) -> Dict[str, object]:
    for action in parser._actions:  # argparse has no public way to walk subcommands
        if action.__class__.__name__ == "_SubParsersAction":
            return dict(action.choices)
    return {}


def _parser_for(words: List[str]):
    """The (sub)parser a ``headlines`` command line reaches, and the words after it."""
    parser, rest = cli.build_parser(), list(words)
    while rest and rest[0] in _subparsers(parser):
        parser = _subparsers(parser)[rest.pop(0)]
    return parser, rest


def _without_substitutions(text: str) -> str:
    """``$(...)`` replaced by a word: flags inside belong to another program."""
    while "$(" in text:
        start = text.index("$(")
        depth, end = 0, start + 1
        for end in range(start + 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                break
        text = text[:start] + "VALUE" + text[end + 1:]
    return text


def _flags(text: str) -> List[str]:
    text = _without_substitutions(text)
    return [word.split("=")[0].rstrip("]|") for word in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*(?:=\S*)?)", text)]


def _headlines_words(text: str) -> Optional[List[str]]:
    for prefix in (".venv/bin/headlines ", "headlines "):
        if text.startswith(prefix):
            return text[len(prefix):].split()
    return None


def headlines_commands() -> List[Command]:
    found = []
    for command in COMMANDS:
        for part in re.split(r"\s+\|\s+", command.text):  # "headlines pipeline start [--wait] | headlines ..."
            if _headlines_words(part.strip()) is not None:
                found.append(Command(command.file, command.line, command.section, part.strip(), command.kind))
    return found


@pytest.mark.parametrize("command", headlines_commands(), ids=str)
def test_each_headlines_subcommand_and_flag_exists(command):
    words = _headlines_words(command.text)
    parser, rest = _parser_for(words)
    assert parser.prog != "headlines" or not rest or rest[0].startswith("-"), f"{command}: no such subcommand"
    known = {option for action in parser._actions for option in action.option_strings}
    known |= {option for action in cli.build_parser()._actions for option in action.option_strings}  # --debug
    if "[train options]" in command.text:
        known |= {option for action in _parser_for(["train"])[0]._actions for option in action.option_strings}
    missing = [flag for flag in _flags(" ".join(rest)) if flag not in known]
    assert missing == [], f"{command}: `{parser.prog} --help` has no {', '.join(missing)}"


# ---- make targets and scripts -------------------------------------------------------------------

MAKE_TARGETS = set(re.findall(r"^([A-Za-z][\w-]*):", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE))


def make_commands() -> List[Command]:
    return [command for command in COMMANDS if command.text.startswith("make ")]


@pytest.mark.parametrize("command", make_commands(), ids=str)
def test_each_make_target_exists(command):
    targets = [word for word in command.text.split()[1:] if not word.startswith("-") and "=" not in word]
    assert targets and set(targets) <= MAKE_TARGETS, f"{command}: the Makefile has no target {targets}"


def _script_match(text: str) -> Optional[re.Match]:
    return (re.match(r"^(?:\.venv/bin/python\s+|python\s+)?(bench/\S+\.py)", text)
            or re.match(r"^(?:\.venv/bin/)?python -m (headlines\.\w+)", text))


def _script(text: str) -> Optional[Path]:
    match = _script_match(text)
    if match is None:
        return None
    name = match.group(1)
    return REPO_ROOT / (name if name.endswith(".py") else name.replace(".", "/") + ".py")


def script_commands() -> List[Command]:
    return [command for command in COMMANDS if _script(command.text) is not None]


@pytest.mark.parametrize("command", script_commands(), ids=str)
def test_each_script_and_its_flags_exist(command):
    script = _script(command.text)
    assert script.is_file(), f"{command}: no {script.relative_to(REPO_ROOT)}"
    source = script.read_text(encoding="utf-8")
    flags = _flags(command.text[_script_match(command.text).end():])
    missing = [flag for flag in flags
               if f'"{flag}"' not in source and not (flag.startswith("--no-") and f'"--{flag[5:]}"' in source)]
    assert missing == [], f"{command}: {script.name} defines no {', '.join(missing)}"


# ---- every command is covered -------------------------------------------------------------------

def _local_api_command(command: Command) -> bool:
    """A command that asks the local API: ``classify --input`` scores a file through the serving
    container itself (tests/cli/test_classify_file.py runs it), not the API."""
    words = _headlines_words(command.text) or [""]
    return command.kind == "python" or command.text.startswith(("curl ", "API=")) or (
        words[0] == "classify" and "--input" not in words and command.kind == "shell")


def jupyter_commands() -> List[Command]:
    return [command for command in COMMANDS if command.text.startswith(".venv/bin/jupyter execute ")]


@pytest.mark.parametrize("command", jupyter_commands(), ids=str)
def test_each_notebook_command_names_a_notebook_and_real_flags(command):
    """tests/docs/test_notebooks.py runs the notebooks themselves; here: the file and the runner's flags."""
    words = shlex.split(command.text.split("#")[0])
    notebooks = [word for word in words if word.endswith(".ipynb")]
    assert notebooks and all((REPO_ROOT / word).is_file() for word in notebooks), command
    options = subprocess.run([str(REPO_ROOT / ".venv/bin/jupyter"), "execute", "--help"],
                             capture_output=True, text=True, timeout=60).stdout
    assert all(f"{word.split('=')[0]}=" in options for word in words if word.startswith("--")), command


def test_every_shell_command_is_checked_or_needs_aws():
    checked = {id(command) for command in make_commands() + script_commands() + jupyter_commands()}
    unchecked = [str(command) for command in COMMANDS
                 if command.kind == "shell" and id(command) not in checked and not command.needs_aws
                 and _headlines_words(command.text) is None and not _local_api_command(command)
                 and not command.text.startswith(SYNTH_PREFIXES)]
    assert unchecked == [], ("commands shown in the docs that no test runs or checks: add a check to "
                             "tests/docs/test_docs.py, or show them in a section that needs AWS:\n" + "\n".join(unchecked))


def test_the_docs_show_commands():
    """The extraction itself works (a broken parser would make the tests above vacuous)."""
    kinds = {command.kind for command in COMMANDS}
    assert {"shell", "synopsis", "inline", "python"} <= kinds
    assert any(command.text.startswith("headlines train") for command in COMMANDS)
    assert any(command.needs_aws for command in COMMANDS)
    assert len([command for command in COMMANDS if _local_api_command(command) and not command.needs_aws]) >= 5


# ---- the local API commands run ------------------------------------------------------------------

@pytest.fixture(scope="module")
def local_api(tiny_training, tmp_path_factory):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "headlines.cli", "serve", "--model", str(tiny_training.artifact),
                               "--workdir", str(tmp_path_factory.mktemp("serve")), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v1/health", timeout=5) as response:
                    if json.load(response)["status"] == "ok":
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            assert server.poll() is None, server.stdout.read()
            assert time.time() < deadline, "the local API did not start"
            time.sleep(0.5)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _local(text: str, port: int) -> str:
    return text.replace(f"localhost:{LOCAL_PORT}", f"127.0.0.1:{port}").replace(f"127.0.0.1:{LOCAL_PORT}",
                                                                                 f"127.0.0.1:{port}")


def local_api_blocks() -> List[List[Command]]:
    """The local API commands, grouped by their block (a block's ``API=...`` is set for the rest)."""
    groups: Dict[tuple, List[Command]] = {}
    for command in COMMANDS:
        if _local_api_command(command) and not command.needs_aws:
            groups.setdefault((command.file, command.section, command.kind), []).append(command)
    return list(groups.values())


def _check_answer(command: Command, output: str) -> None:
    for line in output.splitlines():
        if line.lower().startswith("x-request-id:"):
            continue
        if line.startswith("{"):
            answer = json.loads(line)
            assert {"category", "predictions", "status", "error"} & set(answer), f"{command}: {line}"
            version = (answer.get("model") or {}).get("version")
            assert version is None or VERSION_FORMAT.match(version), f"{command}: version {version}"


@pytest.mark.slow
@pytest.mark.xdist_group("local-api")  # one worker trains the tiny model for the local API tests
@pytest.mark.parametrize("block", local_api_blocks(), ids=lambda block: str(block[0]))
def test_the_local_api_commands_run(local_api, block):
    assignments = []
    for command in block:
        if command.kind == "python":
            result = subprocess.run([sys.executable, "-c", _local(command.text, local_api)], capture_output=True,
                                    text=True, timeout=60)
            assert result.returncode == 0 and result.stdout.strip(), f"{command}\n{result.stderr}"
            continue
        text = _local(command.text, local_api)
        if re.match(r"^[A-Z_]+=\S+$", text):
            assignments.append(text)
            continue
        if text.startswith((".venv/bin/headlines ", "headlines ")) and "--url" not in text:
            text += f" --url http://127.0.0.1:{local_api}"
        text = text.replace(".venv/bin/headlines ", f"{shlex.quote(sys.executable)} -m headlines.cli ", 1)
        script = "set -o pipefail\n" + "\n".join(assignments + [text])
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
        assert result.returncode == 0 and result.stdout.strip(), f"{command}\n{result.stderr}"
        if text.startswith("curl "):
            _check_answer(command, result.stdout)
        else:
            categories = {line.split()[0] for line in result.stdout.splitlines()}
            assert categories <= {"business", "science_technology", "entertainment", "health"}, result.stdout


# ---- figures and examples agree ------------------------------------------------------------------

def _benchmark_default_figures() -> tuple:
    """Accuracy and macro-F1 of the project's row in the benchmarks' quality table (bench/quality.py)."""
    benchmarks = BENCHMARKS.read_text(encoding="utf-8")
    match = re.search(r"^\| \*\*project\*\*.*?\| \*\*(0\.\d+)\*\* \| \*\*(0\.\d+)\*\* \|", benchmarks, re.MULTILINE)
    assert match, "docs/benchmarks.md's quality table has no project row"
    return round(float(match.group(1)), 2), round(float(match.group(2)), 2)


def test_quoted_figures_come_from_a_cited_benchmark():
    benchmarks = BENCHMARKS.read_text(encoding="utf-8")
    for script in ("bench/quality.py", "bench/serving.py", "bench/scale.py", "bench/bulk.py"):
        assert script in benchmarks and (REPO_ROOT / script).is_file()
    tables = 0
    for section in benchmarks.split("\n## ")[1:]:  # each section of today's figures names its benchmark
        heading = section.split("\n", 1)[0]
        assert re.search(r"`bench/\w+\.py`", heading), f"docs/benchmarks.md: section {heading!r} names no benchmark"
        script = re.search(r"`(bench/\w+\.py)`", heading).group(1)
        assert f".venv/bin/python {script}" in section, f"docs/benchmarks.md: section {heading!r} shows no command"
        for paragraph in re.split(r"\n\s*\n", section):
            if paragraph.lstrip().startswith("|"):
                tables += 1
                before = section[: section.index(paragraph)]
                assert "bench/" in before, paragraph[:80]
    assert tables >= 4  # quality, its splits, training at scale, serving


def test_example_metrics_and_versions_match_the_real_ones():
    accuracy, macro_f1 = _benchmark_default_figures()
    texts = {path.name: path.read_text(encoding="utf-8") for path in DOCS + [REPO_ROOT / "api" / "openapi.yaml"]}
    for name, text in texts.items():
        for found in re.findall(r"test_macro_f1\"?[:=]\s*(0\.\d+)", text):
            assert float(found) == macro_f1, f"{name}: test_macro_f1 {found}, the benchmark says {macro_f1}"
        for found in re.findall(r"test_accuracy\"?[:=]\s*(0\.\d+)", text):
            assert float(found) == accuracy, f"{name}: test_accuracy {found}, the benchmark says {accuracy}"
        for found in re.findall(r"\bversion\"?:\s*['\"]?([\w.:-]+)", text):
            if found not in ("1.0.0", "3.0.3", "3.1.0") and not found.startswith(("{", "...")):
                assert VERSION_FORMAT.match(found), f"{name}: example model version {found} matches no real format"


@pytest.mark.xdist_group("local-api")
def test_the_tiny_models_version_has_the_documented_format(tiny_model_dir):
    metrics = json.loads((tiny_model_dir / "metrics.json").read_text())
    assert VERSION_FORMAT.match(metrics["model_version"])


# ---- the troubleshooting table quotes real messages -------------------------------------------------

def _troubleshooting_symptom(starting: str) -> str:
    text = TROUBLESHOOTING.read_text(encoding="utf-8")
    table = text.split("## Local mode and the command line", 1)[1].split("\n## ", 1)[0]
    for symptom in re.findall(r"^\| `([^`]+)`", table, re.MULTILINE):
        if symptom.startswith(starting):
            return symptom
    raise AssertionError(f"docs/troubleshooting.md's table has no row for {starting!r}")


def test_troubleshooting_cannot_reach_is_the_real_message():
    port = free_port()
    symptom = _troubleshooting_symptom("error: cannot reach").replace(LOCAL_PORT, str(port))
    result = subprocess.run([sys.executable, "-m", "headlines.cli", "classify", "--url", f"http://127.0.0.1:{port}",
                             "Fed raises rates"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and result.stderr.startswith(symptom), result.stderr


@pytest.mark.slow
@pytest.mark.xdist_group("local-api")
def test_troubleshooting_port_in_use_is_the_real_message(tiny_training, tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        symptom = (_troubleshooting_symptom("error: cannot listen").replace(LOCAL_PORT, str(port))
                   .replace(str(int(LOCAL_PORT) + 1), str(port + 1)))  # "try --port 8081"
        result = subprocess.run([sys.executable, "-m", "headlines.cli", "serve", "--model", str(tiny_training.artifact),
                                 "--workdir", str(tmp_path), "--port", str(port)],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [symptom], result.stderr


# ---- the README: short, the two commands, links that resolve ------------------------------------

def test_the_readme_is_short_and_shows_the_two_commands():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES, "README.md is for users: measurements and history go to docs/"
    shown = {command.text for command in COMMANDS if command.file == "README.md" and command.kind == "shell"}
    assert {"make up", "make test"} <= shown


def _slug(heading: str) -> str:
    """The anchor Python-Markdown's toc extension (MkDocs) gives a heading."""
    from markdown.extensions.toc import slugify

    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    return slugify(re.sub(r"[`*]", "", text), "-")


def _anchors(path: Path) -> set:
    text, anchors, fence = path.read_text(encoding="utf-8"), set(), False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and re.match(r"^#{1,6} ", line):
            anchors.add(_slug(line.lstrip("#").strip()))
    return anchors


def _links(path: Path) -> List[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return [target for target in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"^[a-z]+:", target)]


def test_every_link_and_image_of_the_readme_resolves():
    """MkDocs checks docs/ (make docs, --strict); the README is GitHub's page, checked here."""
    readme = REPO_ROOT / "README.md"
    links = _links(readme)
    assert len(links) >= 10
    for target in links:
        file, _, anchor = target.partition("#")
        path = (readme.parent / file) if file else readme
        assert path.exists(), f"README.md links to {target}: no such file"
        if anchor:
            assert anchor in _anchors(path), f"README.md links to {target}: {path.name} has no such heading"


def test_the_readme_links_one_guide_per_reader():
    """From the README alone: how to run it locally, deploy it, call the API, retrain."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for guide in ("getting-started.md", "aws.md", "api.md", "data-science.md", "architecture.md", "benchmarks.md",
                  "experiment-log.md", "troubleshooting.md", "security.md", "configuration.md"):
        assert f"(docs/{guide}" in readme, f"README.md does not link docs/{guide}"
    assert "npx cdk deploy" in readme and "headlines pipeline start --wait" in readme and "--retrain" in readme


# ---- images: what the docs embed is what the tests write --------------------------------------------

def _embedded_images() -> Dict[str, str]:
    found = {}
    for path in DOCS:
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", path.read_text(encoding="utf-8")):
            found[(path.parent / target).resolve().relative_to(REPO_ROOT).as_posix()] = path.name
    return found


def test_every_image_the_docs_embed_is_a_screenshot_a_test_writes(docs_screenshots):
    embedded = _embedded_images()
    assert embedded, "no images found: the extraction is broken"
    for image, page in embedded.items():
        assert image.startswith("docs/images/") and image.split("/")[-1] in docs_screenshots, (
            f"{page} embeds {image}, which no test writes (tests/conftest.py: DOCS_SCREENSHOTS)")
        assert (REPO_ROOT / image).is_file(), f"{page} embeds {image}: not committed (run the test that writes it)"
    committed = {path.name for path in (REPO_ROOT / "docs" / "images").glob("*")}
    assert committed == set(docs_screenshots), "docs/images/ holds exactly the screenshots the tests write"
    for name, writer in docs_screenshots.items():
        assert f'"{name[:-4]}"' in (REPO_ROOT / writer).read_text(encoding="utf-8") or name in (
            REPO_ROOT / writer).read_text(encoding="utf-8"), f"{writer} does not write {name}"
