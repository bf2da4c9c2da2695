"""`lukewarm cost` prices an imported model at what `lukewarm import` measured for it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import infra.settings as settings
from lukewarm.__main__ import main
from lukewarm.cost import DEFAULT_DURATION_S, DEFAULT_INIT_S

ROOT = Path(__file__).resolve().parents[2]
MEASURED = {"peak_rss_mb": 1445, "init_s": 4.9, "caption_s": 2.72}


def cost(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["cost", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout whose stack `photos` serves an imported model with measured figures."""
    export = tmp_path / "function" / "models" / "vit-gpt2" / "onnx"
    export.mkdir(parents=True)
    (export / "manifest.json").write_text(json.dumps({"measured": MEASURED}))
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    (tmp_path / "Pulumi.photos.yaml").write_text(
        "config:\n  lukewarm:modelDir: models/vit-gpt2\n  lukewarm:memorySize: 2048\n"
    )
    monkeypatch.setattr(settings, "ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_models_caption_and_load_times_are_the_defaults(capsys, stack) -> None:
    inputs = cost(capsys, "--stack", "photos", "--no-warming")["inputs"]

    assert (inputs["duration_s"], inputs["init_s"]) == (2.72, 4.9)
    source = "model models/vit-gpt2 (measured by lukewarm import)"
    assert inputs["sources"]["duration_s"] == inputs["sources"]["init_s"] == source
    assert inputs["memory_mb"] == 2048  # what is billed is the stack's memorySize


def test_flags_still_win_over_the_models_figures(capsys, stack) -> None:
    inputs = cost(capsys, "--stack", "photos", "--duration", "0.5", "--init-seconds", "1")["inputs"]

    assert (inputs["duration_s"], inputs["init_s"]) == (0.5, 1.0)
    assert inputs["sources"]["duration_s"] == inputs["sources"]["init_s"] == "flag"


def test_a_model_without_measurements_keeps_the_defaults(capsys, stack) -> None:
    (stack / "function" / "models" / "vit-gpt2" / "onnx" / "manifest.json").write_text("{}")
    inputs = cost(capsys, "--stack", "photos")["inputs"]

    assert (inputs["duration_s"], inputs["init_s"]) == (DEFAULT_DURATION_S, DEFAULT_INIT_S)
    assert inputs["sources"]["duration_s"].startswith("default: no make bench figures")
