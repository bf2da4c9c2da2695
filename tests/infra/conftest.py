"""Each Pulumi test runs the program from the project directory and leaves no global state."""

from __future__ import annotations

from collections.abc import Iterator

import pulumi
import pulumi.runtime.settings
import pytest

from infra.settings import ROOT


@pytest.fixture(autouse=True)
def pulumi_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # `pulumi up` runs the program with the project directory as the working directory.
    monkeypatch.chdir(ROOT)
    yield
    pulumi.runtime.set_all_config({})
    pulumi.runtime.settings.ROOT.set(None)
