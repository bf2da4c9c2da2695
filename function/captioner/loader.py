"""Choosing a backend: which runtime loads a model directory, on how many threads.

Nothing here imports torch or ONNX Runtime: each backend is imported only when a model
is loaded with it, so the ONNX image never pays for torch (and has none).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .config import RUNTIMES, ModelFormatError
from .hub_config import is_hub_model

if TYPE_CHECKING:
    from .hub import HubCaptioner
    from .ort import OrtCaptioner
    from .runtime import Captioner

RUNTIME_VARIABLE = "LUKEWARM_RUNTIME"
THREADS_VARIABLE = "LUKEWARM_THREADS"

_configured: dict[str, int] = {}
"""`threads`: the intra-op thread count set by `configure_threads`, for sessions made
after it."""


def usable_cpus() -> int:
    """CPUs this process may really use: its affinity, capped by a cgroup CPU quota
    (containers and Lambda report more cores than they are allowed to keep busy)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def chosen_runtime(runtime: str | None = None) -> str:
    """`runtime`, or `LUKEWARM_RUNTIME`, or `onnx`; anything else is refused."""
    chosen = runtime or os.environ.get(RUNTIME_VARIABLE) or RUNTIMES[0]
    if chosen not in RUNTIMES:
        source = "runtime" if runtime else RUNTIME_VARIABLE
        raise ModelFormatError(f"{source} {chosen!r} is not one of {', '.join(RUNTIMES)}")
    return chosen


def configure_threads(threads: int | None = None, runtime: str | None = None) -> int:
    """Set the intra-op threads of the runtime (from `threads`, `LUKEWARM_THREADS` or the
    usable CPUs) and return the count. ONNX Runtime's applies to the sessions of
    captioners loaded afterwards; torch's is process-wide, and set whenever torch is
    already imported, whichever runtime is named (torch is never imported for onnx)."""
    count = threads or int(os.environ.get(THREADS_VARIABLE, "0")) or usable_cpus()
    if chosen_runtime(runtime) == "torch" or "torch" in sys.modules:
        import torch

        torch.set_num_threads(count)
    _configured["threads"] = count
    return count


def thread_count() -> int:
    """The intra-op threads a new ONNX Runtime session gets."""
    return _configured.get("threads") or int(os.environ.get(THREADS_VARIABLE, "0")) or usable_cpus()


def load_captioner(
    model_dir: str | Path, runtime: str | None = None
) -> OrtCaptioner | Captioner | HubCaptioner:
    """Load a model directory with `runtime` (default: `LUKEWARM_RUNTIME`, else `onnx`).

    `onnx` needs the directory's export (`lukewarm export DIR` makes it) and refuses one
    made from other weights; `torch` reads `weights.safetensors`. An imported Hub model
    (`lukewarm import`) runs on `onnx` only.
    """
    if is_hub_model(Path(model_dir)):
        if chosen_runtime(runtime) == "torch":
            raise ModelFormatError(hub_torch_refusal(Path(model_dir)))
        from .hub import HubCaptioner

        return HubCaptioner.load(model_dir)
    if chosen_runtime(runtime) == "torch":
        from .runtime import Captioner

        return Captioner.load(model_dir)
    from .ort import OrtCaptioner

    return OrtCaptioner.load(model_dir)


def hub_torch_refusal(model_dir: Path) -> str:
    """Why runtime `torch` cannot serve an imported Hub model, and what to do."""
    return (
        f"{model_dir} is an imported Hub model (lukewarm import), which lukewarm serves on "
        "runtime onnx only (its image holds no torch or transformers): set runtime onnx"
    )
