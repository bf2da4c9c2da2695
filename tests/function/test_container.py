"""The container recipe without Docker: the Dockerfile read statically, and the handler
imported the way the Lambda image imports it (`function/` alone as the task root)."""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import DEMO_MODEL_DIR, FUNCTION_DIR

DOCKERFILE = FUNCTION_DIR / "Dockerfile"
MODEL_FILES = ("config.json", "vocab.json", "weights.safetensors")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(pair[0].upper(), pair[1]) for pair in pairs]


def build_args() -> dict[str, str]:
    return dict(arg.split("=", 1) for op, arg in instructions() if op == "ARG" and "=" in arg)


def copies() -> list[tuple[list[str], str]]:
    """Each COPY's sources (build args at their defaults) and destination."""
    defaults = build_args()
    result = []
    for op, arguments in instructions():
        if op == "COPY":
            *sources, destination = shlex.split(arguments)
            sources = [re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], s) for s in sources]
            result.append((sources, destination))
    return result


def test_base_image_is_lambda_python_3_12() -> None:
    base = build_args()["BASE_IMAGE"]
    assert re.fullmatch(r"public\.ecr\.aws/lambda/python:3\.12(@sha256:[0-9a-f]{64})?", base)
    assert ("FROM", "${BASE_IMAGE}") in instructions()


def test_cmd_names_the_handler_function() -> None:
    commands = [json.loads(arg) for op, arg in instructions() if op == "CMD"]
    assert commands == [["app.handler"]]
    module, function = commands[0][0].split(".")
    tree = ast.parse((FUNCTION_DIR / f"{module}.py").read_text())
    assert function in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_copy_sources_are_exactly_what_the_function_needs() -> None:
    sources = [source for group, _ in copies() for source in group]
    assert sources[0] == "requirements.txt"
    assert sources[1:4] == ["app.py", "captioner/", "static/"]
    assert sources[4:] == [f"model/{name}" for name in MODEL_FILES]  # weights baked in
    for source in sources[:4]:
        assert (FUNCTION_DIR / source).exists(), source
    for source in sources:
        assert not ignored_by_dockerignore(source.rstrip("/")), source


def test_the_default_model_directory_is_there_to_copy() -> None:
    if not DEMO_MODEL_DIR.exists():
        pytest.skip("function/model (the demo model) is not committed yet")
    for name in MODEL_FILES:
        assert (DEMO_MODEL_DIR / name).is_file()


def test_dockerignore_keeps_everything_else_out_of_the_build() -> None:
    for path in ("Dockerfile", "captioner/__pycache__/model.cpython-312.pyc", "model/notes.txt"):
        assert ignored_by_dockerignore(path), path
    for path in ("captioner/images.py", "static/index.html", "model/weights.safetensors"):
        assert not ignored_by_dockerignore(path), path


def test_torch_comes_only_from_the_cpu_index_and_nothing_pickled_or_torchvision() -> None:
    runs = " ".join(arg for op, arg in instructions() if op == "RUN")
    assert re.search(
        r"pip install [^&]*--index-url https://download\.pytorch\.org/whl/cpu [^&]*\btorch\b", runs
    )
    assert "compileall" in runs
    requirements = (FUNCTION_DIR / "requirements.txt").read_text()
    assert re.search(r"^torch==\d+\.\d+\.\d+$", requirements, re.MULTILINE)
    assert "torchvision" not in requirements + str(instructions())
    for source in (FUNCTION_DIR / "captioner").glob("*.py"):
        code = source.read_text()
        assert "torch.load" not in code and "import pickle" not in code, source
    for source, _ in copies():
        assert not any(s.endswith((".pt", ".pth", ".pkl", ".ckpt", ".bin")) for s in source)


def ignored_by_dockerignore(path: str) -> bool:
    """Docker's rules: patterns in order, the last match wins, `!` re-includes, and a
    pattern matching a directory excludes everything below it."""
    ignored = False
    for line in (FUNCTION_DIR / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        regex = _glob_to_regex(pattern.lstrip("!").rstrip("/"))
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def _glob_to_regex(pattern: str) -> str:
    regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
    return regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")


def test_handler_imports_with_function_dir_as_the_only_task_root() -> None:
    """Like /var/task in the image: function/ first on the path, then site-packages
    without its .pth files (so no editable install of this repo leaks in), no NumPy,
    which function/requirements.txt does not install, and the model baked in by default."""
    site_packages = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    probe = f"""
import sys
sys.path[:] = [{str(FUNCTION_DIR)!r}] + [p for p in sys.path if "site-packages" not in p]
sys.path += {site_packages!r}
sys.modules["numpy"] = None
for name in ("lukewarm", "training", "infra", "bench", "warmer"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{{name}} is importable: the task root is not isolated")
import app
event = {{"lukewarm": {{"action": "warm", "hold_ms": 0}}}}
class Context:
    aws_request_id, function_name = "req-1", "lukewarm"
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:lukewarm"
    memory_limit_in_mb = 1024
reply = app.handler(event, Context())
print("RESULT", reply["warm"], reply["cold_start"], app.captioner.info["name"],
      app.__file__, sys.modules["captioner"].__file__, "torchvision" in sys.modules,
      "torch._dynamo" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe],
        check=False,
        cwd=FUNCTION_DIR,
        env={"LUKEWARM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
    _, warm, cold, model, app_file, captioner_file, torchvision, dynamo = result.split()
    assert (warm, cold, model) == ("True", "True", "lukewarm-shapes")
    # Either would add about a second to every cold start (FACTS.md).
    assert (torchvision, dynamo) == ("False", "False")
    assert Path(app_file) == FUNCTION_DIR / "app.py"
    assert Path(captioner_file) == FUNCTION_DIR / "captioner" / "__init__.py"
    # Nothing but the function's own JSON logs: no warning opens every cold start's log.
    assert "Warning" not in done.stderr, done.stderr
