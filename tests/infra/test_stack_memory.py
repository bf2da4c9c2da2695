"""memorySize against an imported model's measured need: a warning at preview, not a refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

import infra.settings as settings
from infra.mocks import FUNCTION, deploy


def imported(root: Path, name: str, measured: object) -> str:
    """A model directory as `lukewarm import` leaves it, as far as the stack reads it."""
    export = root / "function" / "models" / name / "onnx"
    export.mkdir(parents=True)
    (export / "manifest.json").write_text(json.dumps({"format": "x", "measured": measured}))
    return f"models/{name}"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(settings, "ROOT", tmp_path)
    return tmp_path


def test_the_floor_is_the_peak_plus_a_fifth_in_64_mb_steps() -> None:
    assert settings.memory_floor(1445) == 1792  # 1,734 MB rounded up
    assert settings.memory_floor(640) == 768
    assert settings.memory_floor(1) == 64


def test_a_memory_size_below_the_measured_need_is_warned_about(root: Path) -> None:
    model = imported(root, "vit-gpt2", {"peak_rss_mb": 1445, "init_s": 4.9, "caption_s": 2.7})
    low = settings.load_settings({"modelDir": model, "memorySize": 1769})

    (warning,) = settings.warnings_for(low)
    assert "lukewarm:memorySize 1769 MB is below what function/models/vit-gpt2 needs" in warning
    assert "peak RSS was 1,445 MB on the largest accepted image" in warning
    assert warning.endswith("pulumi config set lukewarm:memorySize 1792")
    at_floor = settings.load_settings({"modelDir": model, "memorySize": 1792})
    assert settings.warnings_for(at_floor) == []


def test_enough_memory_or_no_measurement_warns_of_nothing(root: Path) -> None:
    model = imported(root, "blip", {"peak_rss_mb": 600})
    assert settings.warnings_for(settings.load_settings({"modelDir": model})) == []
    for name, measured in (("old", None), ("odd", {"peak_rss_mb": "lots"}), ("list", [1])):
        model = imported(root, name, measured)
        assert settings.warnings_for(settings.load_settings({"modelDir": model})) == []
    # The demo model (no manifest here) and a directory that is not there.
    assert settings.warnings_for(settings.load_settings({"modelDir": "model"})) == []
    assert settings.model_measurements("models/missing") is None


def test_preview_warns_and_still_deploys(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: warned.append(message))
    model = imported(root, "vit-gpt2", {"peak_rss_mb": 1445})

    deployment = deploy({"modelDir": model, "memorySize": 1024})

    assert len(warned) == 1 and "lukewarm:memorySize 1024 MB is below" in warned[0]
    assert any(r.typ == FUNCTION for r in deployment.resources)
    warned.clear()
    deploy({"modelDir": model, "memorySize": 2048})
    assert warned == []
