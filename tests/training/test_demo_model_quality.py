"""The committed demo model meets its quality bar on scenes it never saw."""

from __future__ import annotations

import pytest

from tests.conftest import DEMO_MODEL_DIR
from training.evaluate import evaluate, main

needs_demo_model = pytest.mark.skipif(
    not DEMO_MODEL_DIR.joinpath("weights.safetensors").exists(), reason="no demo model"
)


@needs_demo_model
def test_demo_model_captions_held_out_scenes_correctly() -> None:
    # The full bar (make evaluate, 500 scenes) is exact match 0.95 and BLEU-4 0.97;
    # on 80 scenes one or two unlucky misses must not fail the suite.
    score = evaluate(DEMO_MODEL_DIR, count=80, seed=424242, beam=3)
    assert score.exact_match >= 0.9, score.mistakes
    assert score.bleu4 >= 0.95


@needs_demo_model
def test_evaluate_command_ends_with_the_score_line(capsys) -> None:
    assert main(["--count", "4", "--seed", "9", "--model-dir", str(DEMO_MODEL_DIR)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    name, value = zip(*(field.split("=") for field in last.split()), strict=True)
    assert name == ("exact_match", "bleu4")
    assert all(0 <= float(v) <= 1 for v in value)


def test_evaluate_command_refuses_a_missing_model(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--count", "4", "--seed", "9", "--model-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "config.json is missing" in capsys.readouterr().err
