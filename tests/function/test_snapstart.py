"""The handler under SnapStart: hooks registered with snapshot-restore-py, run as Lambda
runs them (before-snapshot in reverse order, after-restore in order), renew everything
that must differ between instances restored from one snapshot.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
import snapshot_restore_py

from tests.function.handler_support import (
    LambdaContext,
    http_event,
    import_app,
    invoke,
    sample_event,
)

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "function"


def hooks_of(app: ModuleType, registry: list) -> list:
    """The hooks this import of the app registered (each test imports a fresh one)."""
    return [entry for entry in registry if entry[0].__globals__ is app.__dict__]


def snapshot_and_restore(app: ModuleType) -> None:
    for hook, args, kwargs in reversed(hooks_of(app, snapshot_restore_py.get_before_snapshot())):
        hook(*args, **kwargs)
    for hook, args, kwargs in hooks_of(app, snapshot_restore_py.get_after_restore()):
        hook(*args, **kwargs)


def emf_metrics(output: str) -> set[str]:
    return {
        metric["Name"]
        for line in output.splitlines()
        if '"_aws"' in line
        for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }


def test_a_restored_instance_is_a_new_one_and_says_it_was_restored(
    tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = import_app(tiny_model_dir)
    snapshot = app.instance.id, app.instance.init_ms, app.instance.initialised_at
    random.seed(7)
    before_restore = random.random()
    random.seed(7)

    snapshot_and_restore(app)
    capsys.readouterr()
    first = app.handler(sample_event("warm_up.json"), LambdaContext())
    first_metrics = emf_metrics(capsys.readouterr().out)
    health = invoke(app, http_event(method="GET", path="/health", body=None)).json()

    assert first["instance"] != snapshot[0]
    assert (first["restored"], first["cold_start"]) == (True, False)
    assert first["init_ms"] == snapshot[1]  # the snapshot's init, not paid again
    assert app.instance.initialised_at > snapshot[2]
    assert random.random() != before_restore  # reseeded: instances draw different numbers
    assert "Restores" in first_metrics and "ColdStart" not in first_metrics
    assert (health["restored"], health["cold_start"]) == (False, False)


def test_a_restore_renews_an_instance_that_has_served_invocations(tiny_model_dir: Path) -> None:
    """`Instance.renew`: however many invocations the snapshot's instance served (none on
    Lambda, where the snapshot follows init), the first after a restore is the restored one
    and answers with a new id of the same form."""
    app = import_app(tiny_model_dir)
    warm = sample_event("warm_up.json")
    app.handler(warm, LambdaContext())
    before = app.handler(warm, LambdaContext())

    for hook, args, kwargs in hooks_of(app, snapshot_restore_py.get_after_restore()):
        hook(*args, **kwargs)
    first = app.handler(warm, LambdaContext())
    second = app.handler(warm, LambdaContext())

    assert (
        re.fullmatch("[0-9a-f]{12}", first["instance"]) and first["instance"] != before["instance"]
    )
    assert first == {
        "warm": True,
        "instance": first["instance"],
        "cold_start": False,
        "restored": True,
        "init_ms": before["init_ms"],
    }
    assert second == {**first, "restored": False}
    assert app.instance.invocations == 2
    assert time.time() - app.instance.initialised_at < 60


def test_a_cold_instance_is_cold_not_restored_and_counts_a_cold_start(
    tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = import_app(tiny_model_dir)
    capsys.readouterr()
    first = app.handler(sample_event("warm_up.json"), LambdaContext())
    metrics = emf_metrics(capsys.readouterr().out)

    assert (first["cold_start"], first["restored"]) == (True, False)
    assert "ColdStart" in metrics and "Restores" not in metrics


def test_each_restore_of_one_snapshot_gets_its_own_id(tiny_model_dir: Path) -> None:
    app = import_app(tiny_model_dir)
    restore = hooks_of(app, snapshot_restore_py.get_after_restore())
    ids = set()
    for _ in range(3):
        for hook, args, kwargs in restore:
            hook(*args, **kwargs)
        ids.add(app.handler(sample_event("warm_up.json"), LambdaContext())["instance"])
    assert len(ids) == 3


def test_the_before_snapshot_hook_primes_the_captioner(tiny_model_dir: Path) -> None:
    app = import_app(tiny_model_dir)
    calls = []
    captioner = app.captioner
    app.captioner = type("Spy", (), {
        "config": captioner.config,
        "caption": lambda self, image, **options: calls.append((image.size, options)),
    })()  # fmt: skip
    try:
        (prime,) = [hook for hook, _, _ in hooks_of(app, snapshot_restore_py.get_before_snapshot())]
        prime()
    finally:
        app.captioner = captioner
    size = captioner.config.preprocess.image_size
    assert calls == [((size, size), {"beam": 1})]


def test_the_handler_imports_where_snapshot_restore_py_is_missing(tiny_model_dir: Path) -> None:
    """No runtime restores without the library, so the hooks simply go unregistered."""
    probe = (
        "import sys; sys.modules['snapshot_restore_py'] = None\n"
        "import app\n"
        "from tests.function.handler_support import LambdaContext\n"
        "warm = {'lukewarm': {'action': 'warm', 'hold_ms': 0}}\n"
        "print(app.handler(warm, LambdaContext())['restored'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=FUNCTION_DIR,
        env={
            "LUKEWARM_MODEL_DIR": str(tiny_model_dir),
            "LUKEWARM_THREADS": "1",
            "PYTHONPATH": f"{FUNCTION_DIR}:{FUNCTION_DIR.parent}",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "False"
