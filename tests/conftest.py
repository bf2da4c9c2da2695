"""Fixtures shared by every test area: the repository's paths, real photos, a tiny model."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from lukewarm.localstack.process import StackProcess

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = ROOT / "function"
PHOTOS_DIR = ROOT / "data" / "photos"
DEMO_MODEL_DIR = FUNCTION_DIR / "model"


@pytest.fixture(scope="session")
def photos() -> dict[str, Path]:
    """The real test photos by name (`coffee`, `horse`, `grass`, `retina`, `motorcycle`)."""
    return {path.stem: path for path in sorted(PHOTOS_DIR.iterdir()) if path.suffix != ".md"}


TINY_MODEL_ENV = "LUKEWARM_TEST_TINY_MODEL"
"""A tiny model built before by `build_tiny_model`, copied instead of built: `make mutation`
runs the handler's tests once per mutant, and building and exporting the model with torch
took 7.5 s of each 13 s run."""


HUB_MODELS_ENV = "LUKEWARM_TEST_HUB_MODELS"
"""A folder `tests/toolkit/test_hub_import.py`'s `build_hub_models` filled before: `make
mutation` runs those tests once per mutant of captioner/hub.py, and building and importing
the two tiny Hub models took 18 s of each run."""


def build_tiny_model(model_dir: Path) -> None:
    """A small random-weight model, with its ONNX export, in `model_dir` (made if missing).
    Seeded: every build is the same model."""
    import torch

    from captioner import CaptionModel, ModelConfig, Vocabulary, save_model
    from captioner.config import DecoderConfig, EncoderConfig, PreprocessConfig
    from toolkit.export import export_model

    torch.manual_seed(0)
    words = ("<pad>", "<start>", "<end>", "<unk>", "a", "red", "blue", "circle", "square")
    config = ModelConfig(
        name="tiny-random",
        version="0",
        encoder=EncoderConfig(backbone="resnet18", stages=2, encoded_size=4),
        decoder=DecoderConfig(embed_dim=16, attention_dim=16, decoder_dim=32, dropout=0.0),
        preprocess=PreprocessConfig(image_size=64),
        max_length=8,
    )
    save_model(
        model_dir,
        config,
        Vocabulary(words),
        CaptionModel(config.encoder, config.decoder, len(words)),
    )
    export_model(model_dir, checks=4)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random-weight model directory, with its ONNX export: loads in milliseconds,
    captions nonsense. A session's own copy of the one in `$LUKEWARM_TEST_TINY_MODEL` when
    that is set, else built here.

    For tests of everything around the model (API, errors, processes); tests of what
    the captions say use the committed demo model.
    """
    model_dir = tmp_path_factory.mktemp("tiny-model")
    prebuilt = os.environ.get(TINY_MODEL_ENV)
    if prebuilt:
        shutil.copytree(prebuilt, model_dir, dirs_exist_ok=True)
    else:
        build_tiny_model(model_dir)
    return model_dir


# --- The local stack ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def local_stack_factory() -> Iterator[Callable[..., StackProcess]]:
    """Start real local stacks: `lukewarm serve` as a child process on a free 127.0.0.1 port.

    `start(model_dir=..., max_instances=2, idle_timeout=5, no_warmer=True, env={...})` takes
    `lukewarm serve`'s flags by keyword and returns the running `StackProcess` (`.url` ends
    in "/", `.invoke_endpoint` is boto3's `endpoint_url`, `.request_lines()` its log);
    every stack started is stopped with SIGTERM when the session ends.
    """
    from lukewarm.localstack.process import StackProcess

    started: list[StackProcess] = []

    def start(**options: object) -> StackProcess:
        stack = StackProcess(**options).start()
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.request_stop()
    for stack in started:
        stack.close()


@pytest.fixture(scope="session")
def local_stack(
    local_stack_factory: Callable[..., StackProcess], tiny_model_dir: Path
) -> StackProcess:
    """One local stack for the session: the real function with the tiny model, no warmer."""
    return local_stack_factory(model_dir=tiny_model_dir, no_warmer=True)


@pytest.fixture(scope="session")
def demo_stack(local_stack_factory: Callable[..., StackProcess]) -> StackProcess:
    """A local stack serving the committed demo model, for tests of what captions say."""
    if not (DEMO_MODEL_DIR / "weights.safetensors").is_file():
        pytest.skip("the demo model is not in function/model yet (make demo-model)")
    return local_stack_factory(model_dir=DEMO_MODEL_DIR, no_warmer=True)
