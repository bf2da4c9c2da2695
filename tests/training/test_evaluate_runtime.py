"""`python -m training.evaluate --runtime`: the same held-out scenes on either runtime."""

from __future__ import annotations

import pytest

from tests.conftest import DEMO_MODEL_DIR
from training.evaluate import Score, agreement, evaluate, main

needs_demo_model = pytest.mark.skipif(
    not DEMO_MODEL_DIR.joinpath("weights.safetensors").exists(), reason="no demo model"
)


def scored(*captions: str) -> Score:
    return Score(exact_match=0, bleu4=0, mistakes=[], captions=list(captions), runtime="onnx")


def test_agreement_is_the_share_of_scenes_with_the_same_top_caption() -> None:
    assert agreement(scored("a", "b", "c", "d"), scored("a", "b", "x", "d")) == 0.75
    with pytest.raises(ValueError, match="shorter"):
        agreement(scored("a", "b"), scored("a"))


@needs_demo_model
@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_the_runtime_comes_from_the_environment_unless_given(
    monkeypatch: pytest.MonkeyPatch, runtime: str
) -> None:
    monkeypatch.setenv("LUKEWARM_RUNTIME", runtime)
    assert evaluate(DEMO_MODEL_DIR, count=2, seed=9).runtime == runtime
    other = "torch" if runtime == "onnx" else "onnx"
    assert evaluate(DEMO_MODEL_DIR, count=2, seed=9, runtime=other).runtime == other


@needs_demo_model
def test_the_command_reports_the_agreement_of_two_runtimes_before_the_score(capsys) -> None:
    flags = ["--count", "6", "--seed", "9", "--model-dir", str(DEMO_MODEL_DIR)]
    assert main([*flags, "--runtime", "torch", "--agreement-with", "onnx"]) == 0

    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-3] == "runtime torch, beam 3, 6 scenes of seed 9"
    # The demo model's export gives torch's top caption on these scenes (and on 99.6 % or
    # more of `make evaluate`'s 500): exact arithmetic differs, the captions do not.
    assert lines[-2] == "same top caption as onnx: 6 of 6 scenes, agreement=1.0000"
    assert lines[-1].startswith("exact_match=")


def test_an_unknown_runtime_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--count", "4", "--seed", "9", "--runtime", "tensorflow"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'tensorflow'" in capsys.readouterr().err
