"""The README's keep-warm strategy tables are what `lukewarm cost` prints, cell for cell.

Each table sits under a `<!-- cost-table: lukewarm cost FLAGS -->` comment naming the
command it came from; its rows are that command's `comparison`, in order. The flags give
every time explicitly, so a new `make bench` run cannot silently change a table.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from lukewarm.__main__ import main
from lukewarm.cost import comparison_cells

README = Path(__file__).resolve().parents[2] / "README.md"
TABLE = re.compile(
    r"<!--\s*cost-table:\s*lukewarm cost (?P<flags>[^>]*?)\s*-->\s*\n(?P<table>(?:\|.*\n)+)"
)


def tables() -> list[tuple[str, str]]:
    return [(match["flags"], match["table"]) for match in TABLE.finditer(README.read_text())]


def test_the_readme_has_its_strategy_tables() -> None:
    assert len(tables()) >= 2


@pytest.mark.parametrize(("flags", "table"), tables(), ids=[flags for flags, _ in tables()])
def test_a_strategy_table_is_what_lukewarm_cost_prints(capsys, flags: str, table: str) -> None:
    argv = shlex.split(flags)
    assert "--duration" in argv and "--init-seconds" in argv, "name every time explicitly"
    assert main(["cost", *argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)

    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in table.strip().splitlines()[2:]
    ]
    printed = [comparison_cells(row) for row in report["comparison"]]
    assert rows == printed
