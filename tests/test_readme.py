"""The README's and docs/'s examples, run as written against a local stack, so that they
cannot drift.

The stack is started the way `make serve` starts it, `python -m lukewarm serve`, on a free
port (`--port 0`) and without make, whose install step would rewrite the virtualenv. Every
`sh` and `console` block of README.md, then of each page of docs/ in `DOCS_ORDER`, runs in
bash, in that order (a later block may use a file an earlier one wrote), with the
virtualenv's `bin/` on the PATH (as `source .venv/bin/activate` puts it there), from a
directory that mirrors the checkout's top level (so what the examples write stays out of
the work tree), and with `URL` set to the stack: the README's own definition of `URL` is
the one line that changes, and every other command runs exactly as printed. What follows
each block is checked: a `json` block's keys and strings (numbers are timings), a `text`
block's lines, the lines under each `$` command of a `console` block. `make serve` is the
stack itself: its `text` block is compared with what the stack printed.

A block that cannot run here carries an HTML comment right above it, which is reported as
the reason it is skipped: `<!-- readme-test: skip, REASON -->` (needs AWS, long-running, a
file the repository lacks). `<!-- readme-test: numbers vary -->` compares a block's
output with its numbers masked, and `<!-- readme-test: request log -->` marks lines of the
local stack's request log, checked against what real stacks log for a cold start, a warm
request, a throttled one and a function that overran its timeout. A shell block that is
neither runnable here nor marked fails, so every example a later change adds is either
run or says why not.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from markdown_it import MarkdownIt

from lukewarm.localstack.process import StackProcess

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
DOCS_ORDER: tuple[str, ...] = (
    "local-stack.md",
    "api.md",  # writes scene.png, and sends it in three forms
    "model.md",
    "auth.md",
    "deploy.md",
    "keep-warm.md",
    "tools.md",
    "components.md",
    "benchmarks.md",
    "development.md",
)
"""The pages of docs/, in the order their examples run, after the README's."""
DOCUMENTS = [README, *(DOCS / name for name in DOCS_ORDER)]

SHELL = {"sh", "bash", "shell", "console"}
OUTPUT = {"text", "json"}
DATA = {"yaml", "python"}
"""Fenced blocks that are neither commands nor their output: config files, code to read."""
RUNS_HERE = {"curl", "lukewarm", "python", "source", "zizmor", "check-jsonschema"}
"""Programs the test runs; a block that calls anything else must be marked."""
MAKE_SERVE = "make serve"
WRITTEN_BY_EXAMPLES = {"out", "probe", "checkpoints", "scene.png", ".bench", ".git"}
"""Left out of the mirrored checkout: the examples write these, and must not touch the
work tree's own."""
VARYING_STRINGS = {"instance"}
"""JSON strings that name something random (an instance id) rather than what was asked."""
MARKER = re.compile(r"<!--\s*readme-test:\s*(?P<what>.*?)\s*-->", re.DOTALL)
URL_DEFINITION = re.compile(r"^URL=(?P<url>\S+)", re.MULTILINE)
TIMEOUT_S = 90


@dataclass
class Block:
    """One fenced block of the README or a docs/ page, with the marker comment above it, if any."""

    line: int
    lang: str
    text: str
    marker: str | None = None
    output: Block | None = None
    """The `text` or `json` block right under a shell block: what it prints."""
    document: str = "README.md"
    """The file the block is in, relative to the checkout."""

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"

    @property
    def id(self) -> str:
        return f"{self.where}:{self.lang or 'no-language'}"

    @property
    def skip_reason(self) -> str | None:
        if self.marker and self.marker.startswith("skip"):
            return self.marker.removeprefix("skip").lstrip(" ,:") or "no reason given"
        return None


@dataclass
class Ran:
    """What one command printed (stdout and stderr, interleaved) and how it exited."""

    command: str
    output: str
    status: int
    expected: list[str] = field(default_factory=list)


def read_blocks(text: str, document: str = "README.md") -> list[Block]:
    tokens = MarkdownIt("commonmark").parse(text)
    blocks: list[Block] = []
    previous: Any = None
    for token in tokens:
        if token.type == "fence":
            marker = None
            if (
                previous is not None
                and previous.type == "html_block"
                and (match := MARKER.search(previous.content))
            ):
                marker = " ".join(match["what"].split())
            block = Block(token.map[0] + 1, token.info.split()[0] if token.info else "",
                          token.content, marker, document=document)  # fmt: skip
            if (
                block.lang in OUTPUT
                and marker is None
                and blocks
                and previous is not None
                and previous.type == "fence"
                and blocks[-1].lang in SHELL
            ):
                blocks[-1].output = block
            else:
                blocks.append(block)
        previous = token
    return blocks


def document_name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


BLOCKS = [
    block
    for path in DOCUMENTS
    if path.is_file()  # test_every_docs_page_runs_its_examples names a missing one
    for block in read_blocks(path.read_text(encoding="utf-8"), document_name(path))
]


def commands(block: Block) -> list[tuple[str, list[str]]]:
    """The block's commands, each with the lines the README shows it printing.

    A `console` block is `$ command` lines, each followed by its output; in an `sh` block
    every line is a command (a trailing backslash continues it) and the output, if any,
    is the block under it.
    """
    lines = block.text.splitlines()
    if block.lang == "console":
        found: list[tuple[str, list[str]]] = []
        for line in lines:
            if line.startswith("$ "):
                found.append((line[2:], []))
            elif found:
                found[-1][1].append(line)
        return found
    joined = "\n".join(lines).replace("\\\n", " ")
    return [(line, []) for line in joined.splitlines() if line.strip()]


def programs(command: str) -> list[str]:
    """The programs a command line starts: the first word of each part of a pipeline or list."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    started, first = [], True
    for word in lexer:
        if word in {"&&", "||", ";", "|", "&", "(", ")"}:
            if word == "&":
                started.append("&")
            first = True
        elif first and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word, re.DOTALL):
            started.append(word)
            first = False
    return started


def unrunnable(block: Block) -> str | None:
    """Why the test cannot run an unmarked shell block, or None if it can."""
    listed = commands(block)
    if [command for command, _ in listed] == [MAKE_SERVE]:
        return None
    for command, _ in listed:
        for program in programs(command):
            if program == "&":
                return f"`{command}` starts something in the background"
            if program not in RUNS_HERE:
                return f"`{command}` runs {program}, which this test does not run"
    return None


# --- running the examples -------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack() -> Iterator[StackProcess]:
    """`make serve`'s stack: every default from Pulumi.yaml, the demo model, a free port."""
    with StackProcess() as running:
        yield running


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose entries link to the checkout's, minus what the examples write."""
    mirror = tmp_path_factory.mktemp("checkout")
    for entry in ROOT.iterdir():
        if entry.name not in WRITTEN_BY_EXAMPLES:
            (mirror / entry.name).symlink_to(entry)
    return mirror


def url_definition() -> tuple[Block, str, str]:
    """The README's `URL=...` line, its block and the URL it names."""
    for block in BLOCKS:
        if (
            block.lang in SHELL
            and not block.marker
            and (match := URL_DEFINITION.search(block.text))
        ):
            return block, match[0], match["url"]
    pytest.fail("the README defines no URL=... in a runnable block before its requests")


def test_every_docs_page_runs_its_examples() -> None:
    """Each page of docs/ is in DOCS_ORDER, so none of its examples goes unrun, and each
    page DOCS_ORDER names exists."""
    pages = {path.name for path in DOCS.glob("*.md")}
    assert sorted(pages - set(DOCS_ORDER)) == [], "add these pages to DOCS_ORDER"
    assert sorted(set(DOCS_ORDER) - pages) == [], "DOCS_ORDER names pages docs/ lacks"


def run(script: str, cwd: Path, url: str) -> Ran:
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),  # this checkout's lukewarm, whichever one installed .venv
        "URL": url,
        "COLUMNS": "160",  # rich's tables one row per line, as in a wide terminal
        # Plain text, as the README shows it: CI=true makes some tools (zizmor) force colour.
        "NO_COLOR": "1",
    }
    completed = subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    return Ran(script, completed.stdout, completed.returncode)


@pytest.fixture(scope="module")
def results(stack: StackProcess, checkout: Path) -> dict[str, list[Ran]]:
    """Run every runnable block once, in the documents' order: later ones use earlier files."""
    defining, definition, _ = url_definition()
    ran: dict[str, list[Ran]] = {}
    for block in BLOCKS:
        if block.lang not in SHELL or block.marker == "request log" or block.skip_reason:
            continue
        if unrunnable(block) is not None:
            continue
        listed = commands(block)
        if [command for command, _ in listed] == [MAKE_SERVE]:
            started = [line for line in stack.log().splitlines() if line.startswith("lukewarm: ")]
            ran[block.where] = [Ran(MAKE_SERVE, "\n".join(started), 0)]
        elif block.lang == "console":
            ran[block.where] = []
            for command, expected in listed:
                outcome = run(command, checkout, stack.url)
                outcome.expected = expected
                ran[block.where].append(outcome)
        else:
            script = block.text
            if block is defining:
                script = script.replace(definition, f"URL={stack.url}", 1)
            ran[block.where] = [run("set -e -o pipefail\n" + script, checkout, stack.url)]
    return ran


# --- comparing what ran with what the README shows ------------------------------------------


def normalised(line: str) -> str:
    return " ".join(line.split())


def masked(line: str) -> str:
    return re.sub(r"\d+(?:[.,]\d+)*", "#", normalised(line))


def missing_lines(expected: list[str], output: str, compare: Callable[[str], str]) -> list[str]:
    """The README's lines that the output lacks, in order, compared through `compare`."""
    printed = [compare(line) for line in output.splitlines()]
    missing, position = [], 0
    for line in expected:
        if not line.strip():
            continue
        wanted = compare(line)
        try:
            position = printed.index(wanted, position) + 1
        except ValueError:
            missing.append(line)
    return missing


def shape_differences(expected: Any, actual: Any, where: str = "") -> Iterator[str]:
    """Where a JSON answer differs from the README's: keys, lengths, types, strings."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        if set(expected) != set(actual):
            yield f"{where or 'the answer'} has keys {sorted(actual)}, not {sorted(expected)}"
        for key in set(expected) & set(actual):
            if key not in VARYING_STRINGS:
                yield from shape_differences(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            yield f"{where} has {len(actual)} items, not {len(expected)}"
        for index, (one, other) in enumerate(zip(expected, actual, strict=False)):
            yield from shape_differences(one, other, f"{where}[{index}]")
    elif isinstance(expected, str) or isinstance(actual, str):
        if expected != actual:
            yield f"{where} is {actual!r}, not {expected!r}"
    elif type(expected) is not type(actual) and not (
        isinstance(expected, int | float) and isinstance(actual, int | float)
    ):
        yield f"{where} is {actual!r}, not like {expected!r}"


def check_json(expected_text: str, output: str) -> list[str]:
    expected = json.loads(expected_text)
    problems = []
    answers = [line for line in output.splitlines() if line.strip()]
    if not answers:
        return ["it printed nothing"]
    for line in answers:
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"not JSON: {line}")
            continue
        problems += list(shape_differences(expected, answer))
    return problems


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang not in DATA], ids=lambda b: b.id)
def test_readme_block(block: Block, request: pytest.FixtureRequest) -> None:
    if block.skip_reason:
        pytest.skip(block.skip_reason)
    if block.lang not in SHELL | OUTPUT:
        pytest.fail(
            f"{block.id}: a fenced block needs a language: sh or console for commands, "
            "text or json for what they print, yaml or python for files to read"
        )
    if block.marker == "request log":
        return  # test_request_log_lines_are_what_the_stack_logs checks these
    if block.lang in OUTPUT:
        pytest.fail(
            f"{block.id}: output with no command right above it: put it under the sh block "
            "that prints it, or mark it <!-- readme-test: skip, REASON -->"
        )
    if block.marker not in (None, "numbers vary"):
        pytest.fail(f"{block.id}: unknown marker <!-- readme-test: {block.marker} -->")
    if reason := unrunnable(block):
        pytest.fail(
            f"{block.id}: {reason}: make the block runnable against the local stack, or "
            "mark it <!-- readme-test: skip, REASON --> (needs AWS, long-running, ...)"
        )
    stack: StackProcess = request.getfixturevalue("stack")
    ran: list[Ran] = request.getfixturevalue("results")[block.where]
    readme_url = url_definition()[2]
    compare = masked if block.marker == "numbers vary" else normalised

    def shown(lines: list[str]) -> list[str]:
        return [line.replace(readme_url, stack.url) for line in lines]

    if block.lang == "console":
        for outcome in ran:
            assert outcome.status not in (126, 127), f"$ {outcome.command}\n{outcome.output}"
            missing = missing_lines(shown(outcome.expected), outcome.output, compare)
            assert not missing, (
                f"{block.id}: `$ {outcome.command}` no longer prints:\n"
                + "\n".join(missing)
                + f"\n--- it printed:\n{outcome.output}"
            )
        return
    (outcome,) = ran
    assert outcome.status == 0, f"{block.id} failed ({outcome.status}):\n{outcome.output}"
    if block.output is None:
        return
    if block.output.lang == "json":
        problems = check_json(block.output.text, outcome.output)
    else:
        problems = missing_lines(shown(block.output.text.splitlines()), outcome.output, compare)
    assert not problems, (
        f"{block.id}: what {block.document}:{block.output.line} shows differs:\n"
        + "\n".join(problems)
        + f"\n--- it printed:\n{outcome.output}"
    )


def test_examples_reach_the_stack_through_url() -> None:
    """Requests go through `$URL`, so the deployed stack's URL works in every example."""
    _, definition, readme_url = url_definition()
    for block in BLOCKS:
        if block.lang in SHELL and not block.skip_reason:
            for command, _ in commands(block):
                assert readme_url not in command or command.startswith(definition), (
                    f'{block.id}: `{command}` names {readme_url}: use "$URL"'
                )


# --- the request log ------------------------------------------------------------------------


def log_shape(line: str) -> str:
    """A request log line without what changes from run to run: time, pid, ms, instance."""
    line = normalised(line)
    line = re.sub(r"^\S+ \S+ ", "", line)
    line = re.sub(r"\bpid \d+", "pid #", line)
    line = re.sub(r"\bi-\d+", "i-#", line)
    return re.sub(r"\d+ ms\b", "# ms", line)


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "image/png"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_request_log_lines_are_what_the_stack_logs(
    stack: StackProcess, results: dict[str, list[Ran]], photos: dict[str, Path]
) -> None:
    """The documents' log lines: the stack above (prewarm, warm requests) and a stack that
    throttles (one instance) and times out (1 ms), each line as one of them logged it."""
    quoted = [b for b in BLOCKS if b.marker == "request log"]
    assert quoted, "no document quotes a request log (<!-- readme-test: request log -->)"
    image = photos["coffee"].read_bytes()
    with StackProcess(max_instances=1, timeout=0.001, no_warmer=True) as failing:
        endpoint = failing.url + "caption"
        statuses: list[int] = []
        first = threading.Thread(target=lambda: statuses.append(post(endpoint, image)))
        first.start()
        # The first request holds the only instance while it starts: the second is throttled.
        while not psutil.Process(failing.pid).children() and first.is_alive():
            first.join(0.05)
        throttled = post(endpoint, image)
        first.join(TIMEOUT_S)
        assert (throttled, statuses) == (429, [500])
        failing_log = failing.log()
    wanted = {log_shape(line): line for block in quoted for line in block.text.splitlines()}
    # The main stack's warm-up at start logs when it finishes: wait for it, within reason.
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        logged = {log_shape(line) for line in (stack.log() + failing_log).splitlines()}
        if set(wanted) <= logged or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    unlogged = [line for shape, line in wanted.items() if shape not in logged]
    assert not unlogged, (
        "the documents quote request log lines no stack logs:\n"
        + "\n".join(unlogged)
        + "\n--- they logged:\n"
        + "\n".join(sorted(logged))
    )
