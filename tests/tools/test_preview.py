"""`lukewarm preview` (`make preview`): what `pulumi up` would create, offline, and the same
refusals as `pulumi up`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.mocks import deploy
from tests.conftest import ROOT


@pytest.fixture
def stack_file() -> Iterator[tuple[str, Path]]:
    """A stack file of this project's own (preview reads stacks beside Pulumi.yaml)."""
    name = f"preview-test-{os.getpid()}"
    path = ROOT / f"Pulumi.{name}.yaml"
    yield name, path
    path.unlink(missing_ok=True)


def preview(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lukewarm", "preview", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_default_stack_is_shown_resource_by_resource_under_its_components():
    finished = preview()
    lines = finished.stdout.splitlines()

    assert finished.returncode == 0, finished.stderr
    assert lines[0] == "lukewarm preview: Pulumi.yaml's defaults; nothing is created"
    assert lines[1] == f"{len(deploy().urns)} resources:"
    assert "+ lukewarm:index:Service service" in lines
    function = next(line for line in lines if "aws:lambda/function:Function service-" in line)
    assert function.startswith("  + ")
    assert "memorySize=1769 timeout=30 " in function
    assert "  + aws:lambda/alias:Alias service-alias  name=live" in lines
    assert any("scheduleExpression=rate(5 minutes)" in line for line in lines)
    assert any(line.startswith("  caption_url: https://") for line in lines)


def test_a_stacks_values_are_what_it_shows(stack_file):
    name, path = stack_file
    path.write_text("config:\n  lukewarm:memorySize: 3008\n  lukewarm:warmSchedules: []\n")

    finished = preview("--stack", name)

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith(f"lukewarm preview: Pulumi.{name}.yaml over ")
    assert "memorySize=3008 " in finished.stdout
    assert "aws:scheduler/schedule:Schedule" not in finished.stdout


def test_a_config_pulumi_up_refuses_is_refused_with_its_message(stack_file):
    name, path = stack_file
    path.write_text("config:\n  lukewarm:architecture: arm\n")

    finished = preview("--stack", name)

    assert finished.returncode == 2
    assert finished.stdout == ""
    assert finished.stderr.strip() == (
        'lukewarm preview: invalid stack config: lukewarm:architecture = "arm": '
        "must be x86_64 or arm64"
    )
