"""keepwarm: warm-ups answered as the captioner answers them, every other event untouched."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.middleware_factory import lambda_handler_decorator

import contract
import keepwarm as keepwarm_module
from tests.function.handler_support import LambdaContext, import_app

WARM_UP = {"lukewarm": {"action": "warm", "hold_ms": 0}}
HTTP_EVENT = json.loads(
    (Path(__file__).parent.parent / "function" / "events" / "http_api_v2.json").read_text()
)


@pytest.fixture
def keepwarm(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A fresh instance, as in a new execution environment."""
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    yield importlib.reload(keepwarm_module)


class Recorder:
    """A user's handler: remembers what reached it."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "body": "mine"}


def wrapped(keepwarm: ModuleType, how: str, handler: Recorder) -> Any:
    if how == "decorator":
        return keepwarm.keep_warm(handler)

    def powertools_handler(event: Any, context: Any) -> Any:  # Powertools wraps functions only
        return handler(event, context)

    return lambda_handler_decorator(keepwarm.middleware)(powertools_handler)


@pytest.fixture(params=["decorator", "powertools"])
def how(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_warm_up_is_answered_and_never_reaches_the_handler(keepwarm, how) -> None:
    user = Recorder()
    handler = wrapped(keepwarm, how, user)

    first = handler(WARM_UP, None)
    second = handler(WARM_UP, None)

    assert user.events == []
    assert first == {
        "warm": True,
        "instance": keepwarm.instance.id,
        "cold_start": True,
        "restored": False,
        "init_ms": first["init_ms"],
    }
    assert first["init_ms"] >= 0
    assert second == {**first, "cold_start": False}
    assert len(first["instance"]) == 12


def test_every_other_event_reaches_the_handler_unchanged(keepwarm, how) -> None:
    user = Recorder()
    handler = wrapped(keepwarm, how, user)
    events = [HTTP_EVENT, {"lukewarmish": 1}, [1, 2], "text", None]

    answers = [handler(event, None) for event in events]

    assert user.events == events
    assert answers == [{"statusCode": 200, "body": "mine"}] * len(events)


def test_the_user_invoke_after_a_warm_up_is_not_a_cold_start(keepwarm) -> None:
    seen: list[bool] = []

    @keepwarm.keep_warm
    def handler(event: Any, context: Any) -> None:
        seen.append(keepwarm.instance.cold_start)

    handler(HTTP_EVENT, None)
    handler(HTTP_EVENT, None)

    assert seen == [True, False]


def test_the_warm_up_holds_the_instance_for_hold_ms(keepwarm) -> None:
    handler = keepwarm.keep_warm(Recorder())

    started = time.monotonic()
    handler({"lukewarm": {"action": "warm", "hold_ms": 300}}, None)

    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    "request_",
    [
        {"action": "cool", "hold_ms": 0},
        {"action": "warm", "hold_ms": -1},
        {"action": "warm", "hold_ms": 10_001},
        {"action": "warm", "hold_ms": "500"},
        {"action": "warm", "hold_ms": True},
        "warm",
        None,
    ],
)
def test_a_malformed_warm_up_is_refused_and_never_reaches_the_handler(keepwarm, request_) -> None:
    user = Recorder()

    answer = keepwarm.keep_warm(user)({"lukewarm": request_}, None)

    assert user.events == []
    assert answer == {
        "warm": False,
        "error": {
            "code": "bad_warm_event",
            "message": 'a warm-up event is {"lukewarm": {"action": "warm", "hold_ms": <int>}} '
            "with hold_ms from 0 to 10000",
        },
    }


@pytest.mark.parametrize(
    "event", [WARM_UP, {"lukewarm": {"action": "cool"}}, {"lukewarm": {"hold_ms": 1.5}}]
)
def test_the_helper_answers_as_the_captioner_does(keepwarm, tiny_model_dir, event) -> None:
    app = import_app(tiny_model_dir)

    ours = keepwarm.keep_warm(Recorder())(event, None)
    theirs = app.handler(event, LambdaContext())

    compared = ("warm", "cold_start", "restored", "error")  # not the ids, nor the init times
    assert ours.keys() == theirs.keys()
    assert {key: ours[key] for key in compared if key in ours} == {
        key: theirs[key] for key in compared if key in theirs
    }


def test_provisioned_instances_never_report_a_cold_start(keepwarm, monkeypatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")

    answer = keepwarm.keep_warm(Recorder())(WARM_UP, None)

    assert (answer["cold_start"], answer["restored"]) == (False, False)


def test_after_a_snapstart_restore_the_instance_is_new_and_restored(keepwarm) -> None:
    handler = keepwarm.keep_warm(Recorder())
    before = handler(WARM_UP, None)

    keepwarm.instance.renew()  # what the after-restore hook runs
    first, second = handler(WARM_UP, None), handler(WARM_UP, None)

    assert first["instance"] != before["instance"]
    assert (first["cold_start"], first["restored"]) == (False, True)
    assert (second["instance"], second["restored"]) == (first["instance"], False)


def test_the_restore_hook_is_registered_where_snapshots_are_restored(keepwarm) -> None:
    from snapshot_restore_py import get_after_restore

    assert (keepwarm.instance.renew, (), {}) in get_after_restore()


def test_the_helper_and_the_contract_are_all_a_function_needs(tmp_path: Path) -> None:
    # Copied next to a handler as keepwarm.py and contract/, with no site-packages (-S -I).
    shutil.copy(keepwarm_module.__file__, tmp_path / "keepwarm.py")
    shutil.copytree(Path(contract.__file__).parent, tmp_path / "contract")
    (tmp_path / "app.py").write_text(
        "import keepwarm\n\n@keepwarm.keep_warm\ndef handler(event, context):\n    return 'mine'\n"
    )
    script = (
        "import json, sys; sys.path.insert(0, '.'); import app; "
        "print(json.dumps([app.handler({'x': 1}, None), "
        "app.handler({'lukewarm': {'action': 'warm', 'hold_ms': 0}}, None)['warm']]))"
    )

    run = subprocess.run(
        [sys.executable, "-S", "-I", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == ["mine", True]


def test_the_warmer_counts_the_helpers_answer(keepwarm) -> None:
    answer = keepwarm.keep_warm(Recorder())(WARM_UP, None)

    warmed = contract.parse_warm_answer(answer)

    assert (warmed.instance, warmed.cold_start, warmed.restored) == (
        keepwarm.instance.id,
        True,
        False,
    )
