"""`make mutation`'s counting and settling (tests/mutation.py), on made-up mutmut results:
a timeout is never a kill, and a settled one counts as what its tests did with time enough.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest

from tests import mutation
from tests.mutation import Equivalent, Tally, Verdict

# A stand-in for a module's tests: what it does depends on the mutant switched on, as the
# mutated code's would; each run is recorded in the file named by its argument.
FAKE_TESTS = """
import os, sys, time
mutant = os.environ["MUTANT_UNDER_TEST"]
with open(sys.argv[1], "a") as runs:
    runs.write((mutant or "clean") + "\\n")
if mutant == "m.x_f__mutmut_hangs":
    time.sleep(60)
if mutant == "m.x_f__mutmut_slow_kill":
    time.sleep(0.5)
    sys.exit(1)
sys.exit({"m.x_f__mutmut_fails": 1, "m.x_f__mutmut_no_tests": 5}.get(mutant, 0))
"""


def settle_fakes(tmp_path: Path, mutants: list[str], clean_exit: int = 0) -> dict[str, Verdict]:
    script = tmp_path / "fake_tests.py"
    script.write_text(
        FAKE_TESTS.replace("sys.exit({", f"sys.exit({clean_exit} if not mutant else {{")
    )
    runs = tmp_path / "runs.txt"
    return mutation.settle(
        mutants,
        lambda mutant: ("same tests",),
        lambda tests: [sys.executable, str(script), str(runs)],
        tmp_path,
        floor_s=2.0,
        log=lambda line: None,
    )


def test_settling_runs_each_timeout_until_its_tests_fail_or_pass(tmp_path: Path) -> None:
    verdicts = settle_fakes(
        tmp_path,
        [
            "m.x_f__mutmut_fails",
            "m.x_f__mutmut_passes",
            "m.x_f__mutmut_slow_kill",
            "m.x_f__mutmut_hangs",
            "m.x_f__mutmut_no_tests",
        ],
    )

    assert {mutant: v.status for mutant, v in verdicts.items()} == {
        "m.x_f__mutmut_fails": "killed",
        "m.x_f__mutmut_passes": "survived",
        "m.x_f__mutmut_slow_kill": "killed",
        "m.x_f__mutmut_hangs": "timeout",
        "m.x_f__mutmut_no_tests": "no tests",
    }
    hung = verdicts["m.x_f__mutmut_hangs"]
    assert hung.limit_s >= 2.0 and hung.limit_s <= hung.seconds < 30
    # The clean duration is measured once for tests that several mutants share.
    runs = (tmp_path / "runs.txt").read_text().split()
    assert runs.count("clean") == 1 and len(runs) == 6


def test_settling_refuses_tests_that_fail_on_the_original_code(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="fail on the original code"):
        settle_fakes(tmp_path, ["m.x_f__mutmut_passes"], clean_exit=1)


def test_the_limit_is_the_factor_times_the_clean_duration_above_the_floor(tmp_path: Path) -> None:
    script = tmp_path / "fake_tests.py"
    script.write_text(
        "import os, time\ntime.sleep(0.5 if os.environ['MUTANT_UNDER_TEST'] == '' else 0)\n"
    )
    verdicts = mutation.settle(
        ["m.x_f__mutmut_1"],
        lambda mutant: (),
        lambda tests: [sys.executable, str(script)],
        tmp_path,
        factor=5.0,
        floor_s=0.1,
        log=lambda line: None,
    )

    assert verdicts["m.x_f__mutmut_1"].limit_s >= 2.5


def never_equivalent(mutant: str) -> None:
    return None


def test_timeouts_and_equivalents_count_neither_as_killed_nor_as_survived() -> None:
    reason = Equivalent("x_f", "a = 1", "the same program")
    counts, listed = mutation.tally(
        {
            "m.x_f__mutmut_1": "killed",
            "m.x_f__mutmut_2": "killed",
            "m.x_f__mutmut_3": "caught by type check",
            "m.x_f__mutmut_4": "timeout",
            "m.x_f__mutmut_5": "survived",
            "m.x_f__mutmut_6": "survived",
            "m.x_f__mutmut_7": "no tests",
            "m.x_f__mutmut_8": "not checked",
        },
        lambda mutant: reason if mutant == "m.x_f__mutmut_6" else None,
    )

    assert counts == Tally(killed=3, survived=2, timeout=1, equivalent=1, unchecked=1)
    assert counts.line("app") == "mutation app: killed=3 survived=2 timeout=1 score=0.600"
    assert listed == [
        ("timeout", "m.x_f__mutmut_4", ""),
        ("survived", "m.x_f__mutmut_5", ""),
        ("equivalent", "m.x_f__mutmut_6", "the same program"),
        ("no tests", "m.x_f__mutmut_7", ""),
    ]


def test_a_module_with_nothing_decided_has_no_score() -> None:
    counts, _ = mutation.tally({"m.x_f__mutmut_1": "timeout"}, never_equivalent)

    assert counts.line("search") == "mutation search: killed=0 survived=0 timeout=1 score=n/a"


def fake_run(staging: Path, module: str, exit_codes: dict, settled: dict | None = None) -> None:
    """A module's folder as `make mutation` leaves it: mutmut's results and the settled ones."""
    meta = staging / module / "mutants" / (mutation.MODULES[module].source + ".meta")
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"exit_code_by_key": exit_codes}))
    if settled is not None:
        mutation.save_settled(staging / module, settled)


def test_the_report_counts_settled_timeouts_as_what_they_settled_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(mutation, "STAGING", tmp_path)
    monkeypatch.setattr(mutation, "mutated_lines", lambda folder, mutant: ["return None"])
    fake_run(
        tmp_path,
        "events",
        # killed, killed, survived, timeout (36), timeout (SIGKILL after SIGXCPU), timeout
        {"events.x_a__mutmut_1": 1, "events.x_a__mutmut_2": 1, "events.x_a__mutmut_3": 0,
         "events.x_a__mutmut_4": 36, "events.x_a__mutmut_5": -9, "events.x_a__mutmut_6": 36},
        {"events.x_a__mutmut_4": Verdict("killed", 12.0, 60.0),
         "events.x_a__mutmut_5": Verdict("survived", 9.0, 60.0),
         "events.x_a__mutmut_6": Verdict("timeout", 60.0, 60.0)},
    )  # fmt: skip
    fake_run(tmp_path, "search", {"captioner.search.x_b__mutmut_1": 1})

    assert mutation.main(["--report", "events", "search"]) == 1  # events is under 0.80

    lines = capsys.readouterr().out.splitlines()
    assert "  survived events.x_a__mutmut_5:" in lines
    assert "  timeout events.x_a__mutmut_6:" in lines
    assert [line for line in lines if line.startswith("mutation ")] == [
        "mutation events: killed=3 survived=2 timeout=1 score=0.600",
        "mutation search: killed=1 survived=0 timeout=0 score=1.000",
        "mutation all: killed=4 survived=2 timeout=1 score=0.667",
    ]


def test_mutmuts_runner_error_is_settled_and_never_a_kill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # mutmut's worker exits 255 when pytest refuses its command line, and mutmut's own table
    # calls that a timeout: it decides nothing about the mutant.
    monkeypatch.setattr(mutation, "STAGING", tmp_path)
    monkeypatch.setattr(mutation, "mutated_lines", lambda folder, mutant: ["return None"])
    fake_run(
        tmp_path,
        "events",
        {"events.x_a__mutmut_1": 1, "events.x_a__mutmut_2": 255, "events.x_a__mutmut_3": 255},
        {"events.x_a__mutmut_2": Verdict("survived", 3.0, 30.0)},
    )

    assert mutation.mutmut_statuses(tmp_path / "events", mutation.MODULES["events"]) == {
        "events.x_a__mutmut_1": "killed",
        "events.x_a__mutmut_2": "runner error",
        "events.x_a__mutmut_3": "runner error",
    }
    assert mutation.main(["--report", "events"]) == 1

    lines = capsys.readouterr().out.splitlines()
    assert "  survived events.x_a__mutmut_2:" in lines
    assert "  runner error events.x_a__mutmut_3:" in lines
    assert lines[-2] == "mutation events: killed=1 survived=1 timeout=1 score=0.500"


def test_test_ids_that_change_when_collected_again_are_found(tmp_path: Path) -> None:
    # mutmut's fork server collects once and each worker again, in one process: an id that
    # changes names no test, and every mutant those tests cover was a "timeout".
    (tmp_path / "test_ids.py").write_text(
        "import pytest\n"
        '@pytest.mark.parametrize("filler", [b"\\r"], ids=repr)\n'
        "def test_escaped(filler): pass\n"
        '@pytest.mark.parametrize("filler", [b"\\r"], ids=["CR"])\n'
        "def test_plain(filler): pass\n"
    )

    unstable = mutation.unstable_test_ids(
        tmp_path, mutation.Module("m.py", "m.py", ("test_ids.py",))
    )

    assert len(unstable) == 1 and unstable[0].startswith("test_ids.py::test_escaped[")


def test_mutmuts_limit_allows_for_the_measured_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # mutmut's limit is (the tests' call phases + timeout_constant) x timeout_multiplier; the
    # call phases of a small function's tests sum to hundredths of a second.
    monkeypatch.setattr(mutation, "STAGING", tmp_path)

    folder = mutation.stage("events", mutation.MODULES["events"], fresh=True, startup_s=4.26)

    with (folder / "pyproject.toml").open("rb") as staged:
        config = tomllib.load(staged)["tool"]["mutmut"]
    assert config["timeout_constant"] == 4.3
    assert config["timeout_multiplier"] == 15.0
    assert config["pytest_add_cli_args_test_selection"] == list(mutation.APP_TESTS)
    assert (folder / "app.py").resolve() == mutation.ROOT / "function" / "app.py"


def test_a_survivor_that_fails_a_test_mutmut_did_not_pick_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # mutmut runs only the tests its stats saw reach the function: a survivor is run again
    # against all the module's tests, and what they did is its verdict.
    monkeypatch.setattr(mutation, "STAGING", tmp_path)
    monkeypatch.setattr(mutation, "mutated_lines", lambda folder, mutant: ["return None"])
    fake_run(
        tmp_path,
        "app",
        {"app.x_route__mutmut_1": 0, "app.x_route__mutmut_2": 0, "app.x_route__mutmut_3": 1},
        {"app.x_route__mutmut_1": Verdict("killed", 20.0, 100.0),
         "app.x_route__mutmut_2": Verdict("survived", 25.0, 100.0)},
    )  # fmt: skip

    assert mutation.main(["--report", "app"]) == 1

    lines = capsys.readouterr().out.splitlines()
    assert "  survived app.x_route__mutmut_2:" in lines
    assert "  survived app.x_route__mutmut_1:" not in lines
    assert lines[-2] == "mutation app: killed=2 survived=1 timeout=0 score=0.667"
