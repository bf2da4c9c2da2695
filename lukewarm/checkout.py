"""Where lukewarm finds the project's other parts: the checkout it runs from.

`function/`, `warmer/` and `infra/` are deployable sources, not installed packages: the
local stack, `lukewarm cost` and the benchmarks use them from the working tree.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
FUNCTION_DIR = ROOT / "function"


def import_from_checkout(name: str) -> ModuleType:
    """Import a module of the checkout (`warmer.handler`, `infra.settings`)."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    return importlib.import_module(name)
