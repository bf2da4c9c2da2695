"""Where the checkout's files are: the local stack serves `function/` as Lambda's task root.

Its Python packages (`infra`, `warmer`, `pruner`, `captioner`, `contract`) are imported by
name like any other; only the function's directory itself, with `app.py`, the model and
the upload page, is found here.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNCTION_DIR = ROOT / "function"
