"""The `lukewarm` command line as a shell pipeline uses it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lukewarm.checkout import ROOT


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["cost", "--json"], 0),
        (["cost", "--help"], 0),
        (["--help"], 0),
        # rich, which prints the tables, handles a closed pipe itself and exits 1.
        (["cost"], 1),
    ],
    ids=["cost-json", "cost-help", "help", "cost-table"],
)
def test_a_reader_that_stops_early_gets_no_traceback(argv: list[str], status: int) -> None:
    """`lukewarm cost --json | head -0`: the reader leaves before the output; no traceback."""
    command = subprocess.Popen(
        [sys.executable, "-m", "lukewarm", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert command.stdout is not None and command.stderr is not None
    command.stdout.close()  # as `| head -0` would
    errors = command.stderr.read().decode()
    assert command.wait(60) == status
    assert errors == ""
