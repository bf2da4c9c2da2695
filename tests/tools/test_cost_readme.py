"""The keep-warm strategy tables of the README and docs/ are what `lukewarm cost` prints,
cell for cell.

Each table sits under a `<!-- cost-table: lukewarm cost FLAGS -->` comment naming the
command it came from; its rows are that command's `comparison`, in order. The flags give
every time explicitly, so a new `make bench` run cannot silently change a table. The
tables are looked for in every document the README test runs, and the ones expected are
named here, so a table that moves between pages keeps its check and one that is dropped
or loses its comment fails.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from lukewarm.__main__ import main
from lukewarm.cost import comparison_cells
from tests.test_readme import DOCUMENTS, document_name

TABLE = re.compile(
    r"<!--\s*cost-table:\s*lukewarm cost (?P<flags>[^>]*?)\s*-->\s*\n(?P<table>(?:\|.*\n)+)"
)
EXPECTED = {
    "--duration 0.014 --init-seconds 0.27",
    "--requests 1000000 --duration 0.014 --init-seconds 0.27 --warm-concurrency 3",
    "--requests 1000000 --duration 0.028 --init-seconds 1.91 --warm-concurrency 3",
}
"""The flags of every table the documents quote: the default stack, the busier one on onnx
and on torch."""


def tables() -> list[tuple[str, str, str]]:
    """Each table as (where: document and line, its flags, the table)."""
    found = []
    for path in filter(Path.is_file, DOCUMENTS):  # test_readme names a missing page
        text = path.read_text(encoding="utf-8")
        for match in TABLE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{document_name(path)}:{line}", match["flags"], match["table"]))
    return found


def test_the_documents_have_their_strategy_tables() -> None:
    flags = [found for _, found, _ in tables()]
    assert sorted(flags) == sorted(EXPECTED)


@pytest.mark.parametrize(
    ("where", "flags", "table"), tables(), ids=[where for where, _, _ in tables()]
)
def test_a_strategy_table_is_what_lukewarm_cost_prints(
    capsys, where: str, flags: str, table: str
) -> None:
    argv = shlex.split(flags)
    assert "--duration" in argv and "--init-seconds" in argv, f"{where}: name every time"
    assert main(["cost", *argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)

    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in table.strip().splitlines()[2:]
    ]
    printed = [comparison_cells(row) for row in report["comparison"]]
    assert rows == printed, where
