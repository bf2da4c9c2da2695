"""`lukewarm:runtime`: one value picks what the image installs and what the function loads."""

from __future__ import annotations

import json

import pytest
import yaml

from contract import RUNTIMES
from infra.mocks import DOCKER_IMAGE, FUNCTION, LukewarmMocks, deploy
from infra.settings import ROOT, SettingsError, load_settings


def test_the_stack_offers_exactly_the_runtimes_the_function_can_load() -> None:
    from captioner import RUNTIMES as FUNCTION_RUNTIMES

    assert RUNTIMES == FUNCTION_RUNTIMES


def test_onnx_is_the_default_declared_in_pulumi_yaml() -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]

    assert declared["lukewarm:runtime"]["default"] == "onnx"
    assert load_settings().runtime == "onnx"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_image_is_built_for_the_runtime_the_function_is_told_to_load(runtime: str) -> None:
    deployment = deploy({"runtime": runtime})
    build = deployment.one(DOCKER_IMAGE)["build"]
    variables = deployment.one(FUNCTION, "service-function")["environment"]["variables"]

    assert build["args"]["RUNTIME"] == runtime
    assert variables["LUKEWARM_RUNTIME"] == runtime


def test_the_default_deploys_onnx_on_both_sides() -> None:
    deployment = deploy()

    assert deployment.one(DOCKER_IMAGE)["build"]["args"]["RUNTIME"] == "onnx"
    variables = deployment.one(FUNCTION, "service-function")["environment"]["variables"]
    assert variables["LUKEWARM_RUNTIME"] == "onnx"


def test_switching_the_runtime_deploys_another_image() -> None:
    onnx = deploy({"runtime": "onnx"}).one(FUNCTION, "service-function")["imageUri"]
    torch = deploy({"runtime": "torch"}).one(FUNCTION, "service-function")["imageUri"]

    assert onnx != torch


@pytest.mark.parametrize("value", ["tensorflow", "ONNX", "onnx-int8", "", 1])
def test_an_unknown_runtime_names_the_key_the_value_and_the_choices(value: object) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"runtime": value})

    (problem,) = raised.value.problems
    assert problem.startswith(f"lukewarm:runtime = {json.dumps(value)}: ")
    assert problem.endswith("must be onnx or torch")


def test_an_unknown_runtime_stops_the_program_before_any_resource() -> None:
    mocks = LukewarmMocks()
    with pytest.raises(SettingsError, match=r'lukewarm:runtime = "pytorch": must be onnx or torch'):
        deploy({"runtime": "pytorch"}, mocks)

    assert mocks.resources == []
