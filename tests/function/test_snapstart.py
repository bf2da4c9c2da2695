"""The handler under SnapStart: hooks registered with snapshot-restore-py, run as Lambda
runs them (before-snapshot in reverse order, after-restore in order), renew everything
that must differ between instances restored from one snapshot.
"""

from __future__ import annotations

import io
import json
import logging
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


def import_without_snapshot_restore_py(
    tiny_model_dir: Path, initialization_type: str | None
) -> subprocess.CompletedProcess[str]:
    """Import the handler in a fresh interpreter where the hook library is missing."""
    probe = (
        "import sys; sys.modules['snapshot_restore_py'] = None\n"
        "import app\n"
        "from tests.function.handler_support import LambdaContext\n"
        "warm = {'lukewarm': {'action': 'warm', 'hold_ms': 0}}\n"
        "print(app.handler(warm, LambdaContext())['restored'])\n"
    )
    env = {
        "LUKEWARM_MODEL_DIR": str(tiny_model_dir),
        "LUKEWARM_THREADS": "1",
        "PYTHONPATH": f"{FUNCTION_DIR}:{FUNCTION_DIR.parent}",
    }
    if initialization_type:
        env["AWS_LAMBDA_INITIALIZATION_TYPE"] = initialization_type
    return subprocess.run(
        [sys.executable, "-c", probe],
        cwd=FUNCTION_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("initialization_type", [None, "on-demand", "provisioned-concurrency"])
def test_the_handler_imports_where_snapshot_restore_py_is_missing(
    tiny_model_dir: Path, initialization_type: str | None
) -> None:
    """Without SnapStart no hook ever runs, so the hooks may go unregistered."""
    done = import_without_snapshot_restore_py(tiny_model_dir, initialization_type)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "False"


def test_under_snapstart_a_missing_snapshot_restore_py_fails_the_init_loudly(
    tiny_model_dir: Path,
) -> None:
    """Silently unregistered hooks would let every restored instance share one id."""
    done = import_without_snapshot_restore_py(tiny_model_dir, "snap-start")
    assert done.returncode != 0
    (last,) = done.stderr.strip().splitlines()[-1:]
    assert last.startswith("RuntimeError: SnapStart is on")
    assert "snapshot_restore_py cannot be imported" in last
    assert "AWS Python 3.12+ base image" in last


def test_a_failing_before_snapshot_hook_is_logged_and_never_fails_the_publish(
    tiny_model_dir: Path,
) -> None:
    """A hook that raises fails PublishVersion, and the provider then leaves the stack stuck
    (terraform-provider-aws #49904): priming is an optimisation, so it only logs."""
    app = import_app(tiny_model_dir)
    captioner = app.captioner

    def out_of_memory(image, **options):
        raise MemoryError("priming needed more than the function has")

    app.captioner = type("Failing", (), {
        "config": captioner.config,
        "caption": lambda self, image, **options: out_of_memory(image, **options),
    })()  # fmt: skip
    stream = io.StringIO()
    log_handler = logging.StreamHandler(stream)
    log_handler.setFormatter(app.logger.registered_formatter)
    app.logger.addHandler(log_handler)
    try:
        (prime,) = [hook for hook, _, _ in hooks_of(app, snapshot_restore_py.get_before_snapshot())]
        prime()  # returns: the snapshot is taken unprimed
    finally:
        app.captioner = captioner
        app.logger.removeHandler(log_handler)
    (record,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert record["level"] == "WARNING"
    assert record["message"].startswith("priming before the snapshot failed")
    assert record["error"] == "MemoryError: priming needed more than the function has"
    # And the restored instance serves as usual.
    snapshot_and_restore_after_hooks(app)
    answer = app.handler(sample_event("warm_up.json"), LambdaContext())
    assert answer["restored"] is True


def snapshot_and_restore_after_hooks(app: ModuleType) -> None:
    for hook, args, kwargs in hooks_of(app, snapshot_restore_py.get_after_restore()):
        hook(*args, **kwargs)
