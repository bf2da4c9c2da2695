"""What an imported model needs from Lambda, measured once by `lukewarm import`.

`memorySize` must fit the model: ViT-GPT2's fp32 graphs alone are about 1 GB. The import
loads the directory it just wrote in a fresh process that imports only what the onnx
image holds (`captioner` on ONNX Runtime, one thread: the default `memorySize`, 1769 MB,
is one vCPU), and records in the manifest (`measured`):

- `peak_rss_mb`: the process's peak resident memory after captioning the largest image
  the function accepts (`LARGEST`: 128 MiB decoded, `captioner.images.MAX_DECODED_BYTES`),
  what a Lambda instance must hold at worst;
- `init_s`: imports and model load, what a cold start adds before the first caption;
- `caption_s`: a warm caption of an ordinary photo-sized image at the model's own beam.

Both times are the process's CPU time on its one thread: what they take on a vCPU of its
own, as on Lambda. The wall times are kept beside them (`*_wall_s`); on a busy machine
they measure the neighbours too.

The stack warns at preview when `memorySize` is below the peak plus headroom
(`infra.settings`), and `lukewarm cost` prices the model at these figures. The manifest,
not `config.json`, holds them: they vary from run to run and machine to machine, while
`config.json` is a fingerprinted source that the same model must always write alike.

Run by path (`python -P need.py MODEL_DIR IMAGE`) with `function/` on PYTHONPATH, so that
nothing of the toolkit (torch, transformers) is imported in the measured process.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

LARGEST = (5793, 5792)
"""The largest accepted image, as width and height: 33,553,056 RGB pixels, which Pillow
holds at 4 bytes a pixel, just under the 128 MiB decoded that the function accepts."""
ORDINARY = (640, 480)
"""The image the caption time is measured on: a phone photo's usual downscaled size."""
FUNCTION_DIR = Path(__file__).resolve().parents[2] / "function"


class MeasureError(Exception):
    """The measuring process failed (its last lines of output say why)."""


def largest_png(path: Path, size: tuple[int, int] = LARGEST) -> Path:
    """An all-zero RGB PNG of `size`, compressed row by row: written in well under a
    second without ever holding the decoded image (130 KB on disk)."""
    width, height = size
    row = bytes(1 + width * 3)  # filter byte + the row's pixels
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


def measure(model_dir: Path, work: Path, *, python: str = sys.executable) -> dict[str, Any]:
    """The model's measured needs (see the module's docstring), from a fresh process."""
    image = largest_png(work / "largest.png")
    env = {
        **os.environ,
        "PYTHONPATH": str(FUNCTION_DIR),
        "OMP_NUM_THREADS": "1",
        "LUKEWARM_THREADS": "1",
    }
    done = subprocess.run(  # noqa: S603 (our own interpreter and fixed arguments)
        # -P: toolkit/hub/ (which holds a `random.py`) must not come first on sys.path.
        [python, "-P", str(Path(__file__).resolve()), str(model_dir), str(image)],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        check=False,
    )
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-2:])
        raise MeasureError(f"measuring the model's memory failed: {tail}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def _peak_mb() -> float:
    """This process's peak resident memory (`VmHWM`; not `ru_maxrss`, which survives exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _child(model_dir: str, largest: str) -> dict[str, Any]:
    started = time.perf_counter()
    started_cpu = time.process_time()
    import onnxruntime
    from PIL import Image

    from captioner import configure_threads, load_captioner
    from captioner.images import decode_image

    configure_threads(1, "onnx")
    captioner: Any = load_captioner(model_dir, "onnx")
    init_wall_s = time.perf_counter() - started
    init_s = time.process_time() - started_cpu
    size = captioner.config.preprocess.image_size
    ordinary = Image.effect_noise(ORDINARY, 64).convert("RGB")
    captioner.caption(ordinary)  # the first caption pays one-off costs; not counted
    before, before_cpu = time.perf_counter(), time.process_time()
    captioner.caption(ordinary)
    caption_wall_s = time.perf_counter() - before
    caption_s = time.process_time() - before_cpu
    width, height = Image.open(largest).size
    captioner.caption(decode_image(Path(largest).read_bytes(), min_size=size))
    return {
        "peak_rss_mb": round(_peak_mb()),
        "image": f"{width}x{height} RGB PNG, the largest accepted",
        "init_s": round(init_s, 2),
        "caption_s": round(caption_s, 3),
        "init_wall_s": round(init_wall_s, 2),
        "caption_wall_s": round(caption_wall_s, 3),
        "caption_image": f"{ORDINARY[0]}x{ORDINARY[1]}, beam {captioner.default_beam}",
        "threads": 1,
        "onnxruntime": onnxruntime.__version__,
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], sys.argv[2])))
