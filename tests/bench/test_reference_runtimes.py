"""The reference benchmark installs what each image installs, and says which torch it ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import reference

WHEEL = Path("/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")


def pinned(runtime: str) -> dict[str, str]:
    return dict(line.split("==") for line in reference.requirements(runtime))


def test_the_onnx_runtime_is_its_requirements_from_pypi_without_torch() -> None:
    install, without_deps = reference.install_commands("onnx", None)

    assert sorted([*install, *without_deps[1:]]) == sorted(reference.requirements("onnx"))
    assert "onnxruntime" in pinned("onnx")
    assert not any(line.startswith("torch") for line in install + without_deps)
    assert "--index-url" not in install


def test_tokenizers_is_installed_without_the_hub_client_it_depends_on() -> None:
    """As the image installs it: the function decodes tokens and never downloads."""
    _, without_deps = reference.install_commands("onnx", None)

    assert without_deps == ["--no-deps", f"tokenizers=={pinned('onnx')['tokenizers']}"]


def test_torch_comes_first_from_pytorchs_cpu_index_at_the_images_pin() -> None:
    torch, rest = reference.install_commands("torch", None)

    assert torch == ["--index-url", reference.TORCH_INDEX, f"torch=={pinned('torch')['torch']}"]
    assert sorted([*rest, torch[-1]]) == sorted(reference.requirements("torch"))


def test_a_local_wheel_replaces_the_index_and_nothing_else() -> None:
    torch, rest = reference.install_commands("torch", WHEEL)

    assert torch == [str(WHEEL)]
    assert rest == reference.install_commands("torch", None)[1]


def test_the_bench_names_the_torch_each_side_ran_and_a_wheel_off_the_pin() -> None:
    pin = pinned("torch")["torch"]
    check = {
        "original": {"torch": "2.14.1+cu130", "onnxruntime": None},
        "onnx": {"torch": None, "onnxruntime": "1.32.0"},
        "torch": {"torch": "2.13.0+cpu", "onnxruntime": None},
    }
    said = reference._versions(check, WHEEL)

    assert "original: torch 2.14.1+cu130" in said
    assert "onnx: onnxruntime 1.32.0" in said
    assert f"from the wheel {WHEEL.name}: torch 2.13.0+cpu, while the image pins {pin}" in said
    on_pin = {**check, "torch": {"torch": f"{pin}+cpu", "onnxruntime": None}}
    assert "while the image pins" not in reference._versions(on_pin, None)
    assert reference.TORCH_INDEX in reference._versions(on_pin, None)


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_the_benchmarked_model_files_are_what_the_image_copies(
    tiny_model_dir: Path, runtime: str
) -> None:
    files = {
        p.relative_to(tiny_model_dir).as_posix()
        for p in reference.image_model_files(tiny_model_dir, runtime)
    }

    if runtime == "torch":
        assert files == {"config.json", "vocab.json", "weights.safetensors"}
    else:
        assert {"config.json", "vocab.json", "onnx/encoder.onnx", "onnx/decoder_step.onnx"} <= files
        assert "weights.safetensors" not in files
