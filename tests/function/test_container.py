"""The container recipe without Docker: the Dockerfile read statically, and the handler
imported the way the Lambda image imports it (`function/` alone as the task root)."""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from contract import RUNTIMES
from tests.conftest import DEMO_MODEL_DIR, FUNCTION_DIR
from tests.function.handler_support import encode, http_event
from toolkit.scenes import make_scene

DOCKERFILE = FUNCTION_DIR / "Dockerfile"
MODEL_FILES = ("config.json", "vocab.json", "weights.safetensors")
EXPORT_FILES = (
    "onnx/encoder.onnx",
    "onnx/encoder.onnx.data",
    "onnx/decoder_step.onnx",
    "onnx/decoder_step.onnx.data",
    "onnx/manifest.json",
)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(pair[0].upper(), pair[1]) for pair in pairs]


def build_args() -> dict[str, str]:
    return dict(arg.split("=", 1) for op, arg in instructions() if op == "ARG" and "=" in arg)


def stages() -> dict[str, list[tuple[str, str]]]:
    """Each build stage's instructions by stage name; the last, unnamed one is `final`."""
    result: dict[str, list[tuple[str, str]]] = {}
    current = None
    for op, arguments in instructions():
        if op == "FROM":
            words = arguments.split()
            current = words[2] if len(words) == 3 and words[1].upper() == "AS" else "final"
            result[current] = [(op, arguments)]
        elif current is not None:
            result[current].append((op, arguments))
    return result


def image_stages(runtime: str) -> list[str]:
    """The stages that make the image for `runtime`: the final stage is built FROM it."""
    assert stages()["final"][0] == ("FROM", "${RUNTIME}")
    return [runtime, "final"]


def copies(stage: str) -> list[tuple[list[str], str, str | None]]:
    """Each COPY of a stage: its sources (build args at their defaults), destination and
    the stage it copies from (None: the build context)."""
    defaults = build_args()
    result = []
    for op, arguments in stages()[stage]:
        if op == "COPY":
            words = shlex.split(arguments)
            origin = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
            *sources, destination = [w for w in words if not w.startswith("--")]
            sources = [re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], s) for s in sources]
            result.append((sources, destination, origin))
    return result


def runs(stage: str) -> str:
    return " ".join(arguments for op, arguments in stages()[stage] if op == "RUN")


def test_base_image_is_lambda_python_3_12() -> None:
    base = build_args()["BASE_IMAGE"]
    assert re.fullmatch(r"public\.ecr\.aws/lambda/python:3\.12(@sha256:[0-9a-f]{64})?", base)
    for name, stage in stages().items():
        if name != "final":
            assert stage[0] == ("FROM", f"${{BASE_IMAGE}} AS {name}")


def test_the_runtime_is_a_build_argument_onnx_by_default_and_known_to_the_function() -> None:
    assert build_args()["RUNTIME"] == "onnx"
    assert set(RUNTIMES) <= set(stages())
    # The stack passes LUKEWARM_RUNTIME (tests/infra/test_stack_runtime.py); the image sets
    # no second copy that could disagree with it.
    assert not [arg for op, arg in instructions() if op == "ENV" and "LUKEWARM_RUNTIME" in arg]


def test_cmd_names_the_handler_function() -> None:
    commands = [json.loads(arg) for op, arg in instructions() if op == "CMD"]
    assert commands == [["app.handler"]]
    module, function = commands[0][0].split(".")
    tree = ast.parse((FUNCTION_DIR / f"{module}.py").read_text())
    assert function in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_the_function_code_is_copied_into_either_image() -> None:
    assert [sources for sources, _, _ in copies("final")] == [
        ["app.py", "uploads.py", "events.py"],
        ["contract/"],
        ["captioner/"],
        ["static/"],
    ]
    assert "compileall" in runs("final")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_copy_sources_are_exactly_what_each_runtime_needs(runtime: str) -> None:
    """torch: its requirements and the three model files. onnx: its requirements, and
    the model directory taken from the stage that checked its export against its sources
    (Show-Attend-Tell's weights, or an imported Hub model's config and tokenizer and
    every export file's hash), with the weights removed there."""
    sources = [s for stage in image_stages(runtime) for group, _, _ in copies(stage) for s in group]
    if runtime == "torch":
        assert sources[:4] == ["requirements-torch.txt"] + [f"model/{n}" for n in MODEL_FILES]
        tail = sources[4:]
    else:
        assert sources[:2] == ["requirements-onnx.txt", "/check/model/"]
        assert {origin for _, _, origin in copies("onnx")} == {None, "onnx-check"}
        checked = [s for group, _, _ in copies("onnx-check") for s in group]
        assert checked == ["contract/", "captioner/", "model/"]
        assert "python -m captioner.exported model" in runs("onnx-check")
        assert "rm -f model/weights.safetensors" in runs("onnx-check")
        tail = sources[2:]
    assert tail == ["app.py", "uploads.py", "events.py", "contract/", "captioner/", "static/"]
    context = [
        s
        for stage in (runtime, "onnx-check", "final")
        for g, _, o in copies(stage)
        if o is None and (stage != "onnx-check" or runtime == "onnx")
        for s in g
    ]
    for source in context:
        assert (FUNCTION_DIR / source).exists(), source
        files = sorted((FUNCTION_DIR / source).rglob("*.*")) if source.endswith("/") else []
        for path in files or [FUNCTION_DIR / source]:
            if "__pycache__" not in path.parts:
                assert not ignored_by_dockerignore(str(path.relative_to(FUNCTION_DIR))), path


def test_the_default_model_directory_is_there_to_copy_with_its_export() -> None:
    for name in MODEL_FILES + EXPORT_FILES:
        assert (DEMO_MODEL_DIR / name).is_file(), name
        assert not ignored_by_dockerignore(f"model/{name}"), name


def test_dockerignore_keeps_everything_else_out_of_the_build() -> None:
    for path in (
        "Dockerfile",
        "captioner/__pycache__/model.cpython-312.pyc",
        "model/notes.txt",
        "model/onnx/notes.txt",
    ):
        assert ignored_by_dockerignore(path), path
    for path in ("captioner/images.py", "static/index.html", "model/weights.safetensors"):
        assert not ignored_by_dockerignore(path), path


def test_each_image_installs_only_its_runtime_and_nothing_pickled_or_torchvision() -> None:
    assert re.search(
        r"pip install [^&]*--index-url https://download\.pytorch\.org/whl/cpu [^&]*\btorch\b",
        runs("torch"),
    )
    assert "requirements-onnx.txt" not in str(stages()["torch"])
    assert "torch" not in runs("onnx") + str(copies("onnx"))
    torch_requirements = (FUNCTION_DIR / "requirements-torch.txt").read_text()
    onnx_requirements = (FUNCTION_DIR / "requirements-onnx.txt").read_text()
    assert re.search(r"^torch==\d+\.\d+\.\d+$", torch_requirements, re.MULTILINE)
    assert re.search(r"^onnxruntime==\d+\.\d+\.\d+$", onnx_requirements, re.MULTILINE)
    # tokenizers without huggingface-hub: the function decodes, never downloads.
    assert re.search(r"^tokenizers==[\d.]+  # --no-deps$", onnx_requirements, re.MULTILINE)
    assert "pip install --no-cache-dir --no-deps -r /tmp/no-deps.txt" in runs("onnx")
    assert not re.search(r"^torch", onnx_requirements, re.MULTILINE)
    assert "torchvision" not in torch_requirements + str(instructions())
    for source in (FUNCTION_DIR / "captioner").glob("*.py"):
        code = source.read_text()
        assert "torch.load" not in code and "import pickle" not in code, source
        assert "joblib" not in code, source
    for stage in stages():
        for group, _, _ in copies(stage):
            assert not any(s.endswith((".pt", ".pth", ".pkl", ".ckpt", ".bin")) for s in group)


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


# What each image lacks: the onnx image has no torch, the torch image no NumPy. A blocked
# import fails as a missing module does, and every attempt is reported: the onnx runtime
# must not even try torch (torch itself tries NumPy and does without).
BLOCKED = {"onnx": "torch", "torch": "numpy"}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_handler_imports_with_function_dir_as_the_only_task_root_and_captions(
    runtime: str, tmp_path: Path
) -> None:
    """Like /var/task in the image: function/ first on the path, then site-packages
    without its .pth files (so no editable install of this repo leaks in), the other
    runtime's library made unimportable, the model baked in by default; a generated
    scene is captioned through the handler as API Gateway sends it."""
    scene = make_scene("evaluate", 1000003, 0)
    event = http_event(body=encode(scene.image, "PNG"), content_type="image/png")
    (tmp_path / "event.json").write_text(json.dumps(event))
    site_packages = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    probe = f"""
import json, sys
sys.path[:] = [{str(FUNCTION_DIR)!r}] + [p for p in sys.path if "site-packages" not in p]
sys.path += {site_packages!r}
attempts = []
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == {BLOCKED[runtime]!r}:
            attempts.append(name)
            raise ModuleNotFoundError(f"{{name}} is not in this image")
sys.meta_path.insert(0, Blocker())
for name in ("lukewarm", "toolkit", "infra", "bench", "warmer"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{{name}} is importable: the task root is not isolated")
import app
class Context:
    aws_request_id, function_name = "req-1", "lukewarm"
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:lukewarm"
    memory_limit_in_mb = 1024
warm = app.handler({{"lukewarm": {{"action": "warm", "hold_ms": 0}}}}, Context())
reply = app.handler(json.loads(open({str(tmp_path / "event.json")!r}).read()), Context())
print("RESULT", json.dumps({{
    "warm": warm, "status": reply["statusCode"], "body": json.loads(reply["body"]),
    "app": app.__file__, "captioner": sys.modules["captioner"].__file__,
    "blocked": attempts, "torchvision": "torchvision" in sys.modules,
    "dynamo": "torch._dynamo" in sys.modules,
}}))
"""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe],
        check=False,
        cwd=FUNCTION_DIR,
        env={"LUKEWARM_THREADS": "1", "LUKEWARM_RUNTIME": runtime},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
    result = json.loads(line.removeprefix("RESULT "))
    assert (result["warm"]["warm"], result["warm"]["cold_start"]) == (True, True)
    assert result["status"] == 200
    assert result["body"]["caption"] == scene.caption
    assert result["body"]["model"] == {
        "name": "lukewarm-shapes",
        "version": "2",
        "runtime": runtime,
    }
    if runtime == "onnx":
        assert result["blocked"] == []
    # Either would add about a second to every cold start (FACTS.md).
    assert (result["torchvision"], result["dynamo"]) == (False, False)
    assert Path(result["app"]) == FUNCTION_DIR / "app.py"
    assert Path(result["captioner"]) == FUNCTION_DIR / "captioner" / "__init__.py"
    # Nothing but the function's own JSON logs: no warning opens every cold start's log.
    assert "Warning" not in done.stderr, done.stderr


def test_the_image_build_refuses_a_stale_export(tmp_path: Path) -> None:
    """The check the onnx build stage runs, run the same way (standard library only)."""
    model = tmp_path / "model"
    shutil.copytree(DEMO_MODEL_DIR, model)
    command = [sys.executable, "-S", "-m", "captioner.exported", str(model)]
    options: dict[str, Any] = {"cwd": FUNCTION_DIR, "env": {}, "capture_output": True}
    current = subprocess.run(command, text=True, check=False, **options)
    assert current.returncode == 0, current.stderr
    weights = bytearray((model / "weights.safetensors").read_bytes())
    weights[-1] ^= 1  # one bit of one weight: same shapes, other numbers
    (model / "weights.safetensors").write_bytes(weights)
    stale = subprocess.run(command, text=True, check=False, **options)
    assert stale.returncode == 1
    assert "weights.safetensors changed" in stale.stderr
    assert f"lukewarm export {model}" in stale.stderr
