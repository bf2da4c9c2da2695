"""The `lukewarm` command line as a shell pipeline uses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lukewarm.checkout import ROOT
from lukewarm.localstack.logs import LogGroups


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["cost", "--json"], 0),
        (["cost", "--help"], 0),
        (["--help"], 0),
        (["report", "--local", "{log}"], 0),
        # rich, which prints the tables, handles a closed pipe itself and exits 1.
        (["cost"], 1),
    ],
    ids=["cost-json", "cost-help", "help", "report", "cost-table"],
)
def test_a_reader_that_stops_early_gets_no_traceback(
    argv: list[str], status: int, tmp_path: Path
) -> None:
    """`lukewarm cost --json | head -0`: the reader leaves before the output; no traceback."""
    log = tmp_path / "logs.jsonl"
    logs = LogGroups(log)
    logs.report("i-1", "r-1", duration_ms=1.0, max_memory_mb=1, init_ms=1.0)
    logs.close()
    command = subprocess.Popen(
        [sys.executable, "-m", "lukewarm", *(arg.format(log=log) for arg in argv)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert command.stdout is not None and command.stderr is not None
    command.stdout.close()  # as `| head -0` would
    errors = command.stderr.read().decode()
    assert command.wait(60) == status
    assert errors == ""
