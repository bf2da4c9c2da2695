"""The thread environment: how many intra-op threads a backend's sessions get.

A leaf of the package (it imports none of it): ONNX Runtime sessions read `thread_count()`
when they are made; `loader.configure_threads` sets the count for the chosen backend.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

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


def requested_threads(threads: int | None = None) -> int:
    """`threads`, or `LUKEWARM_THREADS`, or the usable CPUs."""
    return threads or int(os.environ.get(THREADS_VARIABLE, "0")) or usable_cpus()


def set_thread_count(count: int) -> None:
    """The count the sessions made from now on get."""
    _configured["threads"] = count


def thread_count() -> int:
    """The intra-op threads a new ONNX Runtime session gets."""
    return _configured.get("threads") or requested_threads()
