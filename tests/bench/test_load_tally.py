"""`make bench-load`'s table and its summary line count the same requests."""

from __future__ import annotations

from bench.load import Tally, excuse_one_killed_request


def test_a_client_request_the_busy_kill_cost_is_shown_killed_not_unexpected():
    tally = Tally()
    tally.statuses["caption raw", 200] += 40
    tally.statuses["caption raw", 500] += 1
    tally.unexpected["caption raw", 500] += 1

    excuse_one_killed_request(tally)

    assert dict(tally.statuses) == {("caption raw", 200): 40, ("caption raw (killed)", 500): 1}
    assert dict(tally.unexpected) == {}


def test_only_one_request_is_excused():
    tally = Tally()
    tally.statuses["caption raw", 500] += 2
    tally.unexpected["caption raw", 500] += 2

    excuse_one_killed_request(tally)

    assert tally.unexpected["caption raw", 500] == 1
    assert tally.statuses["caption raw", 500] == 1
    assert tally.statuses["caption raw (killed)", 500] == 1
