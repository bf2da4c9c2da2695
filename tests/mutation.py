"""`make mutation`: how many deliberate bugs the fast tests catch, per module and overall.

mutmut 3 names a mutant after its file's path (`function/app.py` → `function.app`) but
the tests import the handler as `app`, with `function/` as the task root. So each module
runs in its own staging folder, `.mutation/<module>/`, laid out the way the code is
imported: `app.py` and `captioner/` at the top, beside `warmer/`, `infra/` and the tests.
mutmut copies that folder into its `mutants/` and runs only the tests listed here for the
module (the fast ones that cover it).

A surviving mutant that no test could ever kill (an equivalent mutant: the program
behaves the same) is listed in `EQUIVALENT` with the reason, and left out of the score.
The last line is `mutation: killed=<n> survived=<n> score=<x>`.

    python -m tests.mutation [MODULE ...]    # app, images, warmer, settings (default: all)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGING = ROOT / ".mutation"
TARGET_SCORE = 0.80


@dataclass(frozen=True)
class Module:
    source: str
    """The mutated file, as the staging folder lays it out."""
    package: str
    """Its top-level folder or file in the staging folder (copied whole, this file mutated)."""
    tests: tuple[str, ...]
    """The fast tests that cover it."""
    deselect: tuple[str, ...] = ()
    """Tests that cannot pass on mutated code (mutmut's instrumentation imports mutmut)."""


MODULES = {
    "app": Module(
        "app.py", "app.py", ("tests/function/test_app.py", "tests/function/test_hostile_input.py")
    ),
    "images": Module(
        "captioner/images.py",
        "captioner",
        (
            "tests/function/test_images.py",
            "tests/function/test_app.py",
            "tests/function/test_hostile_input.py",
        ),
    ),
    "warmer": Module(
        "warmer/handler.py",
        "warmer",
        ("tests/warmer/test_handler.py",),
    ),
    "settings": Module(
        "infra/settings.py",
        "infra",
        ("tests/infra",),
    ),
}

# Staging path → checkout path. `function/` is copied whole too (the demo model, the
# Dockerfile) but is not on the import path, so `app` and `captioner` are the mutated ones.
LAYOUT = {
    "app.py": "function/app.py",
    "uploads.py": "function/uploads.py",
    "events.py": "function/events.py",
    "captioner": "function/captioner",
    "contract": "function/contract",
    "static": "function/static",
    "function": "function",
    "warmer": "warmer",
    "pruner": "pruner",
    "infra": "infra",
    "lukewarm": "lukewarm",
    "toolkit": "toolkit",
    "data": "data",
    "tests": "tests",
    "__main__.py": "__main__.py",
    "Pulumi.yaml": "Pulumi.yaml",
}


@dataclass(frozen=True)
class Equivalent:
    function: str
    """The mutated function (mutmut's mangled name without the module: `x_warm_up`)."""
    mutated: str
    """The mutated line, stripped, exactly as `mutmut show` prints it after `+`."""
    reason: str


CLAMPED = "Pillow clamps a colour channel to 0-255: 256 is 255, the same white"
DRAFT_MODE = (
    "draft() takes the scale from the size; its mode only picks a JPEG decoder conversion "
    "that to_rgb does anyway (same pixels, checked on RGB, grey and CMYK JPEGs)"
)

ONLY_ZERO_READ = (
    "only `invocations == 0` is read: any count that is no longer 0 after the first "
    "invocation gives the same cold/warm answers"
)
SAME_CODEC = "UTF-8 and utf-8 name the same codec"

EQUIVALENT: dict[str, tuple[Equivalent, ...]] = {
    "app": (
        *(
            Equivalent("xǁInstanceǁbegin_invocation", line, ONLY_ZERO_READ)
            for line in ("self.invocations = 1", "self.invocations -= 1", "self.invocations += 2")
        ),
        Equivalent("x__body_bytes", 'return body.encode("UTF-8", "surrogatepass")', SAME_CODEC),
        Equivalent(
            "x_read_image_bytes",
            'media_type = content_type.split(";", )[0].strip().lower()',
            "only the text before the first ';' is kept, however many splits follow",
        ),
        Equivalent(
            "x_read_image_bytes",
            'media_type = content_type.split(";", 2)[0].strip().lower()',
            "only the text before the first ';' is kept, however many splits follow",
        ),
    ),
    "images": (
        *(
            Equivalent("x_to_rgb", f'white = Image.new("RGBA", rgba.size, {white})', CLAMPED)
            for white in (
                "(256, 255, 255, 255)",
                "(255, 256, 255, 255)",
                "(255, 255, 256, 255)",
                "(255, 255, 255, 256)",
            )
        ),
        *(
            Equivalent("x_decode_image", f"image.draft({mode}, (min_size, min_size))", DRAFT_MODE)
            for mode in ("None", '"XXRGBXX"', '"rgb"')
        ),
        Equivalent(
            "x__to_8bit_grey",
            "scale = 255.0 / (high - low) if high > low else 1.0",
            "high == low only when every pixel is `low`: (value - low) * scale is 0 for any scale",
        ),
        Equivalent(
            "x__to_8bit_grey",
            'return image.convert("F").point(lambda value: (value - low) * scale).convert(None)',
            "to_rgb converts the float image to RGB next; Pillow goes through L the same way "
            "(identical pixels for 6,000 values from 0 to 255)",
        ),
    ),
    "warmer": (
        Equivalent(
            "x_client_config",
            "max_pool_connections=max(11, concurrency),",
            "10 or 11 connections are both at least the concurrency below 10, and the same above",
        ),
        *(
            Equivalent("x_emf_line", line, "the same JSON document, with spaces after separators")
            for line in (
                "return json.dumps(document, separators=None)",
                "return json.dumps(document, )",
            )
        ),
    ),
    "settings": (
        Equivalent(
            "x_from_pulumi_config",
            "config = pulumi.Config(None)",
            "pulumi.Config() without a name reads the project's own namespace, lukewarm",
        ),
        Equivalent(
            "x_stack_settings",
            'document = yaml.safe_load(stack_file.read_text(encoding="UTF-8")) or {}',
            SAME_CODEC,
        ),
    ),
}

KILLED = {"killed", "timeout", "caught by type check", "segfault"}
SURVIVED = {"survived", "no tests"}


def stage(name: str, module: Module, fresh: bool) -> Path:
    """The staging folder of one module's run; `fresh` drops an earlier run's results."""
    folder = STAGING / name
    if fresh:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    for staged, source in LAYOUT.items():
        link = folder / staged
        if not link.is_symlink():
            link.symlink_to(ROOT / source)
    tests = "".join(f'    "{path}",\n' for path in module.tests)
    deselect = ", ".join(f'"--deselect", "{test}"' for test in module.deselect)
    copied = ", ".join(f'"{path}"' for path in LAYOUT if path not in (module.package, "tests"))
    (folder / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        'testpaths = ["tests"]\n'
        'pythonpath = ["."]\n'
        "timeout = 300\n"
        'addopts = "-ra --strict-markers -p no:cacheprovider"\n'
        'filterwarnings = ["ignore::DeprecationWarning:pulumi_aws.*"]\n'
        'markers = ["browser: drives the upload page in headless Chromium"]\n'
        "\n[tool.mutmut]\n"
        f'source_paths = ["{module.package}"]\n'
        f'only_mutate = ["{module.source}"]\n'
        f"also_copy = [{copied}]\n"
        f"pytest_add_cli_args_test_selection = [\n{tests}]\n"
        f"pytest_add_cli_args = [{deselect}]\n"
        # torch is not fork-safe once it has run: fork workers from a process that has not.
        'process_isolation = "forkserver"\n'
        "use_git_change_detection = false\n",
        encoding="utf-8",
    )
    return folder


def mutmut(folder: Path, *arguments: str, capture: bool = False) -> str:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", *arguments],
        cwd=folder,
        env=env,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return done.stdout or ""


def statuses(folder: Path, module: Module) -> dict[str, str]:
    """Every mutant of the module and what became of it (`killed`, `survived`, ...)."""
    meta = folder / "mutants" / (module.source + ".meta")
    if not meta.is_file():
        return {}
    codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    from mutmut.stats import status_by_exit_code

    return {mutant: status_by_exit_code[code] for mutant, code in codes.items()}


def mutated_lines(folder: Path, mutant: str) -> list[str]:
    diff = mutmut(folder, "show", mutant, capture=True)
    return [
        line[1:].strip()
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]


def equivalent(folder: Path, name: str, mutant: str) -> Equivalent | None:
    function = mutant.rpartition(".")[2].partition("__mutmut_")[0]
    candidates = [e for e in EQUIVALENT[name] if e.function == function]
    if not candidates:
        return None
    lines = mutated_lines(folder, mutant)
    return next((e for e in candidates if e.mutated in lines), None)


@dataclass
class Score:
    killed: int = 0
    survived: int = 0
    unchecked: int = 0

    @property
    def score(self) -> float:
        total = self.killed + self.survived
        return self.killed / total if total else 1.0

    def line(self, label: str) -> str:
        return f"{label}: killed={self.killed} survived={self.survived} score={self.score:.3f}"


def run(name: str, fresh: bool, workers: int) -> None:
    module = MODULES[name]
    folder = stage(name, module, fresh)
    # After an earlier run only its survivors run again (against the current tests).
    again = [m for m, status in statuses(folder, module).items() if status not in KILLED]
    mutmut(folder, "run", "--max-children", str(workers), *again)
    # Changed tests can void earlier results that were not run again: run those too.
    unchecked = [m for m, status in statuses(folder, module).items() if status == "not checked"]
    if unchecked:
        mutmut(folder, "run", "--max-children", str(workers), *unchecked)


def report(name: str) -> Score:
    """The module's score from its last run's results, survivors and equivalents listed."""
    module = MODULES[name]
    folder = STAGING / name
    score = Score()
    for mutant, status in sorted(statuses(folder, module).items()):
        if status == "not checked":
            score.unchecked += 1
            continue
        if status in KILLED:
            score.killed += 1
            continue
        reason = equivalent(folder, name, mutant) if status == "survived" else None
        if reason is not None:
            print(f"  equivalent {mutant}: {reason.reason}")
            continue
        score.survived += 1
        print(f"  {status} {mutant}:")
        print("    " + "\n    ".join(mutated_lines(folder, mutant)))
    unchecked = f" ({score.unchecked} not checked yet)" if score.unchecked else ""
    print(score.line(f"mutation {name} ({module.source})") + unchecked, flush=True)
    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", choices=[*MODULES, []], default=[])
    parser.add_argument(
        "--again",
        action="store_true",
        help="keep the last run's results and test only its survivors again",
    )
    parser.add_argument("--workers", type=int, default=2, help="mutants tested at once")
    parser.add_argument(
        "--report", action="store_true", help="only report the last run's results, run nothing"
    )
    args = parser.parse_args(argv)
    names = args.modules or list(MODULES)
    if not args.report:
        for name in names:
            run(name, not args.again, args.workers)
    scores = [report(name) for name in names]
    total = Score(sum(s.killed for s in scores), sum(s.survived for s in scores))
    print(total.line("mutation"))
    return 0 if all(s.score >= TARGET_SCORE for s in scores) else 1


if __name__ == "__main__":
    sys.exit(main())
