"""What `make serve` installs is enough to serve, and holds no torch: a newcomer's first
command downloads the function's runtime and the local stack, not gigabytes of CUDA."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import DEMO_MODEL_DIR, ROOT
from tests.localstack.conftest import http

TORCH_SIDE = {"torch", "torchvision", "transformers", "onnx", "nvidia-cudnn-cu12", "triton"}

BLOCK_TORCH = """\
import sys


class NotInstalled:
    \"\"\"`import torch` fails here as where it is not installed.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {names!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)


sys.meta_path.insert(0, NotInstalled())
"""


def requirements(path: Path) -> set[str]:
    """The project names a requirements file installs, following its `-r` includes."""
    names: set[str] = set()
    for text in path.read_text().splitlines():
        line = text.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names |= requirements(path.parent / line[3:].strip())
        elif line:
            names.add(re.split(r"[=<>!~\[ ;]", line, maxsplit=1)[0].lower())
    return names


def test_make_serve_installs_no_torch_and_each_install_contains_the_one_before():
    serve = requirements(ROOT / "requirements-serve.txt")
    toolkit = requirements(ROOT / "requirements-toolkit.txt")
    dev = requirements(ROOT / "requirements-dev.txt")

    assert not serve & TORCH_SIDE
    assert {"onnxruntime", "aiohttp", "pulumi"} <= serve
    assert serve < toolkit < dev
    assert {"torch", "torchvision", "onnx"} <= toolkit
    assert "pytest" in dev and "pytest" not in toolkit
    # The function's own pins are the local stack's: one list, not two that drift.
    assert requirements(ROOT / "function" / "requirements-onnx.txt") <= serve


def test_the_makefile_serves_from_the_serve_install_and_tests_from_the_whole():
    makefile = (ROOT / "Makefile").read_text()

    assert re.search(r"^serve: \$\(SERVE_STAMP\)$", makefile, re.MULTILINE)
    assert re.search(r"^\$\(SERVE_STAMP\):.*requirements-serve\.txt", makefile, re.MULTILINE)
    assert re.search(r"^lint: \$\(STAMP\)$", makefile, re.MULTILINE)
    assert re.search(r"^\$\(STAMP\): \$\(TOOLKIT_STAMP\)", makefile, re.MULTILINE)


def test_the_local_stack_captions_with_torch_absent(local_stack_factory, tmp_path):
    # sitecustomize runs in the stack and in every instance it starts, as if `make serve`'s
    # install were all there is.
    (tmp_path / "sitecustomize.py").write_text(BLOCK_TORCH.format(names=sorted(TORCH_SIDE)))
    stack = local_stack_factory(
        model_dir=DEMO_MODEL_DIR, no_warmer=True, env={"PYTHONPATH": str(tmp_path)}
    )

    answer = http(
        stack.url + "caption",
        data=(ROOT / "data" / "photos" / "coffee.png").read_bytes(),
        headers={"Content-Type": "image/png"},
    )

    assert answer.status == 200
    assert answer.json()["model"]["runtime"] == "onnx"


def lukewarm(*argv: str, block_torch: bool = False) -> subprocess.CompletedProcess[str]:
    prelude = BLOCK_TORCH.format(names=sorted(TORCH_SIDE)) if block_torch else ""
    code = f"{prelude}\nfrom lukewarm.__main__ import main\nraise SystemExit(main({argv!r}))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_a_toolkit_command_without_torch_says_how_to_install_it():
    finished = lukewarm("export", "function/model", block_torch=True)

    assert finished.returncode == 2
    assert finished.stderr.strip() == (
        "lukewarm export: needs the torch toolkit, and torch is not installed: "
        "run `make toolkit` (or `make test`) first"
    )


def test_an_unknown_flag_is_refused_with_the_commands_own_usage():
    finished = lukewarm("caption", "http://127.0.0.1:9/", "photo.png", "--bogus")

    assert finished.returncode == 2
    assert finished.stderr.startswith("usage: lukewarm caption ")
    assert finished.stderr.splitlines()[-1] == (
        "lukewarm caption: error: unrecognized arguments: --bogus"
    )


def test_make_help_prints_each_targets_whole_description():
    """A target's `## ` lines above it are its description, however many there are: `make
    help` once printed only the last line of a two-line one (bench-hf's, half a sentence)."""
    makefile = (ROOT / "Makefile").read_text()
    described = re.findall(r"((?:^## .*\n)+)([a-z-]+):", makefile, flags=re.MULTILINE)
    shown = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert any(doc.count("\n") > 1 for doc, _ in described)
    for doc, target in described:
        text = " ".join(line[3:] for line in doc.splitlines())
        assert f"make {target:<16} {text}\n" in shown
