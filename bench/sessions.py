"""ONNX Runtime session options for the function, measured: `python -m bench.sessions DIR`.

Exports the model directory's graphs again into a scratch directory, saved at each
optimisation level, then loads them in fresh processes with each candidate set of
session options (one thread) and reports, as medians: CPU seconds to create both
sessions, CPU seconds of the first and of a warm caption (beam 3, `coffee.png`), and peak
RSS. CPU time rather than wall time: this machine is shared. The table of session
options in docs/model.md comes from `python -m bench.sessions /path/to/reference/lukewarm` (the
ResNet-101 model `make bench-reference` builds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "data" / "photos" / "coffee.png"
# (graph as saved, optimisation level at load, other options): the first is lukewarm's.
CANDIDATES = [
    ("extended", "disabled", ""),
    ("raw", "all", ""),
    ("extended", "all", ""),
    ("extended", "extended", ""),
    ("all", "disabled", ""),
    ("extended", "all", "no-arena"),
    ("extended", "all", "no-prepacking"),
    ("extended-ort", "disabled", ""),
    ("extended-ort", "disabled", "zero-copy"),
]


def save_graphs(model_dir: Path, scratch: Path) -> None:
    """`scratch/raw` as torch exports it; `scratch/extended` and `scratch/all` as ONNX
    Runtime saves it after that level of optimisation; `scratch/extended-ort` the same
    as `extended`, in ONNX Runtime's own format."""
    import onnxruntime as ort

    from captioner.exported import ENCODER_FILE, STEP_FILE
    from captioner.pytorch import Captioner
    from toolkit import export

    captioner = Captioner.load(model_dir)
    export.export_graphs(captioner, model_dir, scratch / "raw", export.check_scenes(0, 2))
    levels = {
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    for name, level, ort_format in (
        ("extended", levels["extended"], False),
        ("all", levels["all"], False),
        ("extended-ort", levels["extended"], True),
    ):
        (scratch / name).mkdir()
        for graph in (ENCODER_FILE, STEP_FILE):
            options = ort.SessionOptions()
            options.graph_optimization_level = level
            options.optimized_model_filepath = str(scratch / name / graph)
            options.log_severity_level = 3
            if ort_format:
                options.add_session_config_entry("session.save_model_format", "ORT")
            ort.InferenceSession(str(scratch / "raw" / graph), options)


def child(model_dir: Path, graphs: Path, level: str, flags: str, warm: int) -> dict[str, Any]:
    """One cold process: sessions, a first caption, `warm` more."""
    import onnxruntime as ort
    from PIL import Image

    from captioner.config import read_config, read_vocabulary
    from captioner.exported import ENCODER_FILE, STEP_FILE, Manifest
    from captioner.ort import OrtCaptioner, session_options

    started = time.process_time()
    options = session_options(threads=1)
    options.graph_optimization_level = {
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    if "no-arena" in flags:
        options.enable_cpu_mem_arena = False
    if "no-prepacking" in flags:
        options.add_session_config_entry("session.disable_prepacking", "1")
    if graphs.name.endswith("-ort"):
        # ONNX Runtime's own format, from bytes that the sessions use in place.
        options.add_session_config_entry("session.load_model_format", "ORT")
        options.add_session_config_entry("session.use_ort_model_bytes_directly", "1")
        if "zero-copy" in flags:
            options.add_session_config_entry("session.use_ort_model_bytes_for_initializers", "1")
        models = [(graphs / name).read_bytes() for name in (ENCODER_FILE, STEP_FILE)]
        sessions = [ort.InferenceSession(model, options) for model in models]
    else:
        names = (ENCODER_FILE, STEP_FILE)
        sessions = [ort.InferenceSession(str(graphs / name), options) for name in names]
    loaded = time.process_time()
    captioner = OrtCaptioner(
        read_config(model_dir),
        read_vocabulary(model_dir),
        Manifest("none", "", {}, {}, {}),
        *sessions,
    )
    image = Image.open(PHOTO).convert("RGB")
    captioner.caption(image, beam=3)
    first = time.process_time()
    warm_cpu = []
    for _ in range(warm):
        before = time.process_time()
        captioner.caption(image, beam=3)
        warm_cpu.append(time.process_time() - before)
    return {
        "session_s": loaded - started,
        "first_s": first - loaded,
        "warm_s": statistics.median(warm_cpu),
        "peak_mb": _peak_mb(),
    }


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM starts afresh at exec; ru_maxrss would carry over
    the parent's, which has torch loaded)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sessions", description=__doc__)
    parser.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes each (default 5)")
    parser.add_argument("--warm", type=int, default=3, help="warm captions each (default 3)")
    parser.add_argument(
        "--child", nargs=3, metavar=("GRAPHS", "LEVEL", "FLAGS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        graphs, level, flags = args.child
        print(json.dumps(child(args.model_dir, Path(graphs), level, flags, args.warm)))
        return 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "function")])}
    with tempfile.TemporaryDirectory() as scratch:
        save_graphs(args.model_dir, Path(scratch))
        print("saved as     load level  options        session_s first_s warm_s peak_mb")
        for saved, level, flags in CANDIDATES:
            runs = []
            for _ in range(args.runs):
                command = [sys.executable, "-m", "bench.sessions", str(args.model_dir)]
                command += ["--warm", str(args.warm), "--child", f"{scratch}/{saved}", level, flags]
                done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    break
                runs.append(json.loads(done.stdout.splitlines()[-1]))
            if not runs:
                print(f"{saved:12} {level:11} {flags or '-':14} failed: exit {done.returncode}")
                continue
            median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            print(
                f"{saved:12} {level:11} {flags or '-':14} {median['session_s']:9.2f} "
                f"{median['first_s']:7.2f} {median['warm_s']:6.2f} {median['peak_mb']:7.0f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
