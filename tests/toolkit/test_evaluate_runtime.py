"""`python -m toolkit.evaluate --runtime`: the same held-out scenes on either runtime."""

from __future__ import annotations

import pytest

from tests.conftest import DEMO_MODEL_DIR
from toolkit.evaluate import evaluate, main

needs_demo_model = pytest.mark.skipif(
    not DEMO_MODEL_DIR.joinpath("weights.safetensors").exists(), reason="no demo model"
)


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
def test_the_command_says_which_runtime_it_scored_before_the_score(capsys) -> None:
    flags = ["--count", "3", "--seed", "9", "--model-dir", str(DEMO_MODEL_DIR)]
    assert main([*flags, "--runtime", "torch"]) == 0

    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2] == "runtime torch, beam 3, 3 scenes of seed 9"
    assert lines[-1].startswith("exact_match=")


def test_an_unknown_runtime_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--count", "4", "--seed", "9", "--runtime", "tensorflow"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'tensorflow'" in capsys.readouterr().err
