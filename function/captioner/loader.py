"""Choosing a backend: which runtime loads a model directory, and whose threads to set.

Nothing here imports torch or ONNX Runtime: each backend is imported only when a model
is loaded with it, so the ONNX image never pays for torch (and has none). The thread
count itself lives in `threads.py`, which the backends read.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from contract import RUNTIME_VARIABLE, RUNTIMES

from .config import ModelFormatError
from .hub_config import is_hub_model
from .threads import requested_threads, set_thread_count

if TYPE_CHECKING:
    from .hub import HubCaptioner
    from .ort import OrtCaptioner
    from .pytorch import Captioner


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
    count = requested_threads(threads)
    if chosen_runtime(runtime) == "torch" or "torch" in sys.modules:
        import torch

        torch.set_num_threads(count)
    set_thread_count(count)
    return count


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
        from .pytorch import Captioner

        return Captioner.load(model_dir)
    from .ort import OrtCaptioner

    return OrtCaptioner.load(model_dir)


def hub_torch_refusal(model_dir: Path) -> str:
    """Why runtime `torch` cannot serve an imported Hub model, and what to do."""
    return (
        f"{model_dir} is an imported Hub model (lukewarm import), which lukewarm serves on "
        "runtime onnx only (its image holds no torch or transformers): set runtime onnx"
    )
