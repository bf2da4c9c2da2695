"""`lukewarm import` of Hub captioners, on tiny random models of both families built here
(nothing can be downloaded): the export's token ids against transformers' own `generate`,
the preprocessing against transformers' image processors, the import's refusals, and the
imported directory served with neither torch nor transformers importable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captioner import ModelFormatError, load_captioner
from captioner.exported import refresh_hint
from captioner.hub import HubCaptioner, generation_rules, to_pixels
from captioner.search import Hypothesis
from lukewarm.__main__ import main
from tests.conftest import FUNCTION_DIR, HUB_MODELS_ENV, PHOTOS_DIR
from toolkit.hub import HubImportError, import_model
from toolkit.hub.random import random_model
from toolkit.scenes import make_scene

FAMILIES = ("vit-gpt2", "blip")


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    """50 scenes and the repository's photos."""
    scenes = [make_scene("evaluate", 41, i).image for i in range(50)]
    photos = [
        Image.open(path).convert("RGB")
        for path in sorted(PHOTOS_DIR.iterdir())
        if path.suffix != ".md"
    ]
    return scenes + photos


def build_hub_models(root: Path) -> None:
    """A tiny random model of each family in the Hub's layout in `root/sources` (BLIP with
    no-repeat 3-grams, so that rule is checked against transformers too, and 4 beams, not
    the 3 of Show-Attend-Tell's default), and each imported, in `root/imports`."""
    sources = {
        "vit-gpt2": random_model("vit-gpt2", root / "sources" / "vit-gpt2"),
        "blip": random_model(
            "blip", root / "sources" / "blip", no_repeat_ngram_size=3, num_beams=4
        ),
    }
    for family, source in sources.items():
        import_model(str(source), root / "imports" / family)


@pytest.fixture(scope="session")
def hub_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built here, or the folder in `$LUKEWARM_TEST_HUB_MODELS`: its sources are read where
    they are (an import names its source's path), its imports copied, as tests change them."""
    prebuilt = os.environ.get(HUB_MODELS_ENV)
    if prebuilt:
        return Path(prebuilt)
    root = tmp_path_factory.mktemp("hub-models")
    build_hub_models(root)
    return root


@pytest.fixture(scope="session")
def hub_sources(hub_models: Path) -> dict[str, Path]:
    return {family: hub_models / "sources" / family for family in ("vit-gpt2", "blip")}


@pytest.fixture(scope="session")
def imported(hub_models: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hub-imports")
    shutil.copytree(hub_models / "imports", root, dirs_exist_ok=True)
    return {family: root / family for family in ("vit-gpt2", "blip")}


def _transformers_model(source: Path, family: str):
    import transformers

    name = "VisionEncoderDecoderModel" if family == "vit-gpt2" else "BlipForConditionalGeneration"
    model = getattr(transformers, name).from_pretrained(source, attn_implementation="eager")
    return model.eval()


def _until_end(tokens: list[int], end: int, prompt: int) -> list[int]:
    """transformers' output row without the padding after its end token."""
    for index in range(prompt, len(tokens)):
        if tokens[index] == end:
            return tokens[: index + 1]
    return tokens


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("beam", [1, 3])
def test_imported_model_gives_transformers_generate_token_ids(
    family: str, beam: int, hub_sources, imported, images
) -> None:
    import torch

    captioner = HubCaptioner.load(imported[family], threads=1)
    model = _transformers_model(hub_sources[family], family)
    generation = captioner.config.generation
    pixels = torch.from_numpy(
        np.stack([to_pixels(image, captioner.config.preprocess) for image in images])
    )
    with torch.inference_mode():
        # The model's generation config passed as the image-to-text pipeline passes it
        # (BLIP's own `generate` otherwise uses its text decoder's).
        expected = model.generate(
            pixel_values=pixels, generation_config=model.generation_config, num_beams=beam
        ).tolist()
    got = captioner.generate(images, beam=beam)
    prompt = len(generation.prompt)
    same = sum(
        _until_end(want, generation.end, prompt) == have
        for want, have in zip(expected, got, strict=True)
    )
    assert len(images) >= 50
    assert same >= 0.99 * len(images), (same, len(images))


@pytest.mark.parametrize("family", FAMILIES)
def test_preprocessing_reproduces_the_image_processor(family: str, hub_sources, imported, images):
    """Exactly (to float rounding) transformers' Pillow processor; within two grey levels
    of its default, torchvision, one (a different resize kernel on a few pixels)."""
    from transformers import AutoImageProcessor

    config = HubCaptioner.load(imported[family]).config.preprocess
    pillow = AutoImageProcessor.from_pretrained(hub_sources[family], backend="pil")
    default = AutoImageProcessor.from_pretrained(hub_sources[family])
    assert "Pil" in type(pillow).__name__ and "Pil" not in type(default).__name__
    level = 1 / 255 / min(config.std)
    for image in images[::5] + images[50:]:
        ours = to_pixels(image, config)
        exact = pillow(image, return_tensors="np")["pixel_values"][0]
        assert np.abs(ours - exact).max() < 1e-5
        close = default(image, return_tensors="np")["pixel_values"][0]
        assert np.abs(ours - close).max() <= 2.01 * level
        assert np.abs(ours - close).mean() < 0.01 * level


def test_answer_names_the_source_and_revision_and_beam_defaults_to_num_beams(imported, images):
    captioner = load_captioner(imported["blip"], "onnx")
    assert isinstance(captioner, HubCaptioner)
    assert captioner.info["name"].endswith("blip")
    assert captioner.info["version"] == "local"
    assert captioner.default_beam == 4
    caption = captioner.caption(images[0], alternatives=2)
    assert isinstance(caption.caption, str) and len(caption.alternatives) <= 2


def test_runtime_torch_is_refused_for_a_hub_model(imported) -> None:
    with pytest.raises(ModelFormatError, match="runtime onnx only"):
        load_captioner(imported["vit-gpt2"], "torch")


def test_import_from_the_hub_cache_offline(hub_sources, imported, tmp_path, monkeypatch):
    """A downloaded model, as `huggingface_hub` caches it, imported by its id with the
    Hub's offline setting on: the answer names the id and the commit."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "cache" / "models--someone--tiny-blip"
    shutil.copytree(hub_sources["blip"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    _offline(monkeypatch, tmp_path / "cache")
    report = import_model("someone/tiny-blip", tmp_path / "out")
    assert (report.source, report.revision) == ("someone/tiny-blip", commit)
    captioner = HubCaptioner.load(tmp_path / "out")
    assert captioner.info == {"name": "someone/tiny-blip", "version": commit, "runtime": "onnx"}
    # The same weights give byte-identical graphs: the export is deterministic.
    ours = json.loads((tmp_path / "out" / "onnx" / "manifest.json").read_text())["files"]
    theirs = json.loads((imported["blip"] / "onnx" / "manifest.json").read_text())["files"]
    assert ours == theirs


def _offline(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    """HF_HUB_OFFLINE=1 and a Hub cache of our own (huggingface_hub reads both into its
    constants when imported, and from there at each download)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))


def test_offline_without_the_model_names_the_setting_and_the_directory_form(
    tmp_path, monkeypatch, capsys
) -> None:
    _offline(monkeypatch, tmp_path / "empty-cache")
    assert main(["import", "nlpconnect/vit-gpt2-image-captioning", str(tmp_path / "out")]) == 1
    message = capsys.readouterr().err
    assert len(message.strip().splitlines()) == 1
    assert "HF_HUB_OFFLINE" in message and "local directory in the Hub's layout" in message
    assert "Traceback" not in message and not (tmp_path / "out").exists()


def test_pickled_weights_are_refused_unless_trusted(hub_sources, tmp_path) -> None:
    source = tmp_path / "pickled"
    shutil.copytree(hub_sources["vit-gpt2"], source)
    (source / "model.safetensors").rename(source / "pytorch_model.bin")
    with pytest.raises(HubImportError, match="--trust-pickle"):
        import_model(str(source), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_other_architectures_are_refused_naming_the_supported_ones(hub_sources, tmp_path):
    source = tmp_path / "t5"
    shutil.copytree(hub_sources["blip"], source)
    config = json.loads((source / "config.json").read_text())
    config["architectures"] = ["Pix2StructForConditionalGeneration"]
    (source / "config.json").write_text(json.dumps(config))
    with pytest.raises(HubImportError) as refusal:
        import_model(str(source), tmp_path / "out")
    message = str(refusal.value)
    assert "Pix2StructForConditionalGeneration is not supported" in message
    assert "VisionEncoderDecoderModel" in message and "BlipForConditionalGeneration" in message


def test_a_stale_import_is_refused_naming_the_command_that_refreshes_it(
    hub_sources, imported, tmp_path
):
    stale = tmp_path / "stale"
    shutil.copytree(imported["vit-gpt2"], stale)
    tokenizer = json.loads((stale / "tokenizer.json").read_text())
    tokenizer["added_tokens"] = []
    (stale / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(ModelFormatError) as refusal:
        HubCaptioner.load(stale)
    assert "stale: tokenizer.json changed" in str(refusal.value)
    assert f"run `lukewarm import {hub_sources['vit-gpt2']} {stale}` to refresh it" in str(
        refusal.value
    )


def test_int8_import_prints_its_agreement_with_fp32_on_the_calibration_photos(
    hub_sources, tmp_path, capsys
) -> None:
    out = tmp_path / "int8"
    code = main(
        [
            "import",
            str(hub_sources["vit-gpt2"]),
            str(out),
            "--quantize",
            "int8",
            "--calibration",
            str(PHOTOS_DIR),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    photos = len([p for p in PHOTOS_DIR.iterdir() if p.suffix != ".md"])
    assert "int8 against fp32: top caption identical on " in printed
    assert f"/{photos} calibration images" in printed
    assert HubCaptioner.load(out).info["runtime"] == "onnx-int8"


def test_hub_model_is_served_with_torch_and_transformers_unimportable(imported, photos) -> None:
    """Like the onnx image: function/ as the task root, torch and transformers blocked."""
    site_packages = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    probe = f"""
import json, sys
sys.path[:] = [{str(FUNCTION_DIR)!r}] + [p for p in sys.path if "site-packages" not in p]
sys.path += {site_packages!r}
attempts = []
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "huggingface_hub"):
            attempts.append(name)
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Blocker())
from PIL import Image
from captioner import load_captioner
captioner = load_captioner({str(imported["vit-gpt2"])!r})
caption = captioner.caption(Image.open({str(photos["coffee"])!r}).convert("RGB"))
print("RESULT", json.dumps({{"info": captioner.info, "blocked": attempts,
    "caption": caption.caption}}))
"""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe],
        check=False,
        cwd=FUNCTION_DIR,
        env={"LUKEWARM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["blocked"] == []
    assert result["info"]["runtime"] == "onnx"


def test_runtime_torch_with_an_imported_model_is_refused_at_preview(imported, monkeypatch):
    """The stack's settings refuse the pair before any resource, naming the key."""
    import infra.settings as settings

    root = imported["blip"].parent
    (root / "function").mkdir(exist_ok=True)
    shutil.copytree(imported["blip"], root / "function" / "models" / "blip", dirs_exist_ok=True)
    monkeypatch.setattr(settings, "ROOT", root)
    values = {"modelDir": "models/blip", "runtime": "torch"}
    with pytest.raises(settings.SettingsError, match="set lukewarm:runtime to onnx"):
        settings.load_settings(values, project_dir=FUNCTION_DIR.parent)
    assert settings.load_settings({**values, "runtime": "onnx"}, project_dir=FUNCTION_DIR.parent)


def test_a_hub_model_is_served_by_the_local_stack_with_its_source_in_the_answer(
    hub_sources, imported, local_stack_factory, photos
) -> None:
    """`lukewarm serve --model-dir` with an imported model: a photo posted over HTTP is
    captioned, the answer names the source and revision, `beam` and `alternatives` work."""
    from tests.localstack.conftest import http

    stack = local_stack_factory(model_dir=imported["blip"], no_warmer=True)
    body = photos["coffee"].read_bytes()
    answer = http(
        stack.url + "caption?beam=4&alternatives=2",
        data=body,
        headers={"Content-Type": "image/png"},
    )
    assert answer.status == 200, answer.body
    reply = answer.json()
    assert reply["model"] == {
        "name": str(hub_sources["blip"]),
        "version": "local",
        "runtime": "onnx",
    }
    assert isinstance(reply["caption"], str) and len(reply["alternatives"]) <= 2


def test_serve_refuses_runtime_torch_for_a_hub_model(imported) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lukewarm",
            "serve",
            "--port",
            "0",
            "--runtime",
            "torch",
            "--model-dir",
            str(imported["vit-gpt2"]),
            "--no-warmer",
        ],
        cwd=FUNCTION_DIR.parent,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "runtime onnx only" in done.stderr and "Traceback" not in done.stderr


def test_the_image_build_context_keeps_an_imported_directory(imported) -> None:
    """function/.dockerignore lets every file of an imported directory into the build."""
    from tests.function.test_container import ignored_by_dockerignore

    for path in sorted(imported["vit-gpt2"].rglob("*")):
        if path.is_file():
            relative = path.relative_to(imported["vit-gpt2"])
            assert not ignored_by_dockerignore(f"models/vit-gpt2/{relative}"), relative


def test_evaluate_runs_an_imported_model_at_its_own_beam_width(imported, capsys) -> None:
    from toolkit.evaluate import main as evaluate_main

    assert evaluate_main(["--count", "2", "--seed", "9", "--model-dir", str(imported["blip"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2] == "runtime onnx, beam 4, 2 scenes of seed 9"


def test_a_directory_that_is_not_an_earlier_import_is_never_overwritten(hub_sources, tmp_path):
    """Importing over the demo model (a slip of OUT_DIR) is refused and leaves it as it was."""
    from tests.conftest import DEMO_MODEL_DIR

    target = tmp_path / "model"
    shutil.copytree(DEMO_MODEL_DIR, target)
    before = sorted(path.name for path in target.rglob("*"))
    with pytest.raises(HubImportError, match="other than an earlier `lukewarm import`"):
        import_model(str(hub_sources["blip"]), target)
    assert sorted(path.name for path in target.rglob("*")) == before


def test_reimporting_replaces_an_earlier_import_whole(hub_sources, imported, tmp_path):
    target = tmp_path / "again"
    shutil.copytree(imported["vit-gpt2"], target)
    (target / "onnx" / "left-over.txt").write_text("from an older import")
    import_model(str(hub_sources["blip"]), target)
    assert not (target / "onnx" / "left-over.txt").exists()
    assert HubCaptioner.load(target).config.family == "blip"


@pytest.mark.parametrize(
    "settings",
    [
        {"length_penalty": 2.0, "early_stopping": True},
        {"length_penalty": 0.5, "early_stopping": "never"},
        {"length_penalty": 1.0, "early_stopping": False, "min_length": 6},
    ],
    ids=["early-true", "never", "min-length"],
)
def test_generation_rules_follow_transformers(settings, hub_sources, imported, images) -> None:
    """The length penalty, each early-stopping mode and the minimum length, as the model's
    generation config would set them, against `generate` with the same settings."""
    import dataclasses

    import torch

    loaded = HubCaptioner.load(imported["vit-gpt2"], threads=1)
    generation = dataclasses.replace(loaded.config.generation, **settings)
    config = dataclasses.replace(loaded.config, generation=generation)
    captioner = HubCaptioner(config, loaded.tokenizer, loaded.manifest, loaded.encoder, loaded.step)
    model = _transformers_model(hub_sources["vit-gpt2"], "vit-gpt2")
    few = images[:20]
    pixels = torch.from_numpy(np.stack([to_pixels(image, config.preprocess) for image in few]))
    with torch.inference_mode():
        expected = model.generate(
            pixel_values=pixels, generation_config=model.generation_config, num_beams=3, **settings
        ).tolist()
    got = captioner.generate(few, beam=3)
    same = sum(
        _until_end(want, generation.end, 1) == have
        for want, have in zip(expected, got, strict=True)
    )
    assert same == len(few)
    if "min_length" in settings:
        assert min(len(tokens) for tokens in got) >= settings["min_length"]


@pytest.mark.parametrize("early_stopping", [True, False, "never"])
def test_the_search_rules_are_the_generation_configs(imported, early_stopping) -> None:
    """Each setting as the model's generation config gives it, none left at the search's
    own defaults (on the tiny models most of them rarely change a caption, so the test
    above cannot tell)."""
    import dataclasses

    config = HubCaptioner.load(imported["blip"], threads=1).config
    generation = dataclasses.replace(
        config.generation,
        prompt=(5,),
        max_length=12,
        length_penalty=0.6,
        early_stopping=early_stopping,
        no_repeat_ngram_size=3,
        min_length=4,
    )
    rules = generation_rules(dataclasses.replace(config, generation=generation))
    assert (
        rules.prompt,
        rules.end,
        rules.steps,
        rules.at_limit,
        rules.length_penalty,
        rules.early_stopping,
        rules.no_repeat_ngram_size,
        rules.min_length,
    ) == ((5,), generation.end, 11, "finish", 0.6, early_stopping, 3, 4)


def test_a_revision_is_imported_from_the_hub_cache(hub_sources, tmp_path, monkeypatch) -> None:
    """--revision names the snapshot: a cache holding two commits imports the one asked for."""
    repo = tmp_path / "cache" / "models--someone--two-commits"
    first, second = "1" * 40, "2" * 40
    shutil.copytree(hub_sources["blip"], repo / "snapshots" / first)
    shutil.copytree(hub_sources["blip"], repo / "snapshots" / second)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(second)
    _offline(monkeypatch, tmp_path / "cache")
    report = import_model("someone/two-commits", tmp_path / "out", revision=first)
    assert report.revision == first
    assert HubCaptioner.load(tmp_path / "out").info["version"] == first


def test_the_image_build_check_hashes_every_export_file(imported, tmp_path) -> None:
    """`python -m captioner.exported DIR` (the Dockerfile's check stage, standard library
    only) passes an intact import and fails one whose graph bytes changed in place."""
    checked = tmp_path / "checked"
    shutil.copytree(imported["blip"], checked)

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-I", "-m", "captioner.exported", str(checked)],
            cwd=FUNCTION_DIR,
            capture_output=True,
            text=True,
            check=False,
        )

    intact = check()
    assert intact.returncode == 0, intact.stderr
    assert "onnx export is current" in intact.stdout
    data = checked / "onnx" / "encoder.onnx.data"
    flipped = bytearray(data.read_bytes())
    flipped[-1] ^= 0xFF
    data.write_bytes(bytes(flipped))
    tampered = check()
    assert tampered.returncode == 1
    assert "sha256 is not the one the manifest records" in tampered.stderr
    assert "run `lukewarm import " in tampered.stderr


@pytest.mark.parametrize("family", FAMILIES)
def test_an_import_whose_weights_are_nan_at_the_same_size_is_refused_at_init(
    family: str, imported, tmp_path
) -> None:
    """As a Show-Attend-Tell export (tests/function/test_export_integrity.py): the manifest
    records each file's size, checked at load, and a blank image's outputs must be finite."""
    model = tmp_path / family
    shutil.copytree(imported[family], model)
    manifest = json.loads((model / "onnx" / "manifest.json").read_text())
    assert {"encoder.onnx", "decoder_step.onnx"} <= set(manifest["files"])
    for record in manifest["files"].values():
        assert set(record) == {"bytes", "sha256"}
    data = model / "onnx" / "decoder_step.onnx.data"
    size = data.stat().st_size
    data.write_bytes(np.full(size // 4, np.nan, dtype=np.float32).tobytes() + bytes(size % 4))
    with pytest.raises(ModelFormatError, match=r"not finite on a blank image.*lukewarm import"):
        load_captioner(model, "onnx")
    data.write_bytes(bytes(size // 2))
    with pytest.raises(
        ModelFormatError, match=r"decoder_step.onnx.data is [\d,]+ bytes; the manifest records"
    ):
        load_captioner(model, "onnx")


@pytest.mark.parametrize("family", FAMILIES)
def test_the_tied_token_embedding_is_stored_once(family: str, imported) -> None:
    """Both families' output layer is their token embedding: one initializer, not a second
    transposed copy (150 MB of the published ViT-GPT2)."""
    import onnx

    cache = HubCaptioner.load(imported[family]).config.cache
    graph = onnx.load(imported[family] / "onnx" / "decoder_step.onnx", load_external_data=False)
    embeddings = [
        tensor.name
        for tensor in graph.graph.initializer
        if sorted(tensor.dims) == sorted([cache.vocab_size, cache.heads * cache.head_size])
    ]
    assert len(embeddings) == 1, embeddings


def test_the_search_is_as_wide_as_the_beam_or_the_alternatives_asked(
    imported, images, monkeypatch
) -> None:
    """`num_beams` unless the request names a beam, and one more than the alternatives
    asked for if that is wider; no alternatives unless asked."""
    captioner = HubCaptioner.load(imported["vit-gpt2"], threads=1)
    widths: list[int] = []
    search = captioner._search

    def recording(batch: list[Image.Image], width: int):
        widths.append(width)
        return search(batch, width)

    monkeypatch.setattr(captioner, "_search", recording)
    image = images[0]
    assert captioner.caption(image).alternatives == []
    assert captioner.caption_batch([image])[0].alternatives == []
    captioner.caption(image, beam=2)
    captioner.caption(image, beam=1, alternatives=2)
    default = captioner.default_beam
    assert widths == [default, default, 2, 3]


def test_generate_ends_with_the_end_token_only_when_the_caption_ended(
    imported, images, monkeypatch
) -> None:
    """As transformers' `generate`: a caption cut at `max_length` has no end token."""
    captioner = HubCaptioner.load(imported["vit-gpt2"], threads=1)
    generation = captioner.config.generation
    longest = tuple(range(7, 7 + generation.max_length - len(generation.prompt)))
    ended = [[Hypothesis((5, 6), 0.0)], [Hypothesis(longest, 0.0)]]
    monkeypatch.setattr(captioner, "_search", lambda batch, width: (ended, {}))
    assert captioner.generate(images[:2]) == [
        [*generation.prompt, 5, 6, generation.end],
        [*generation.prompt, *longest],
    ]


def test_captions_leave_out_the_special_tokens(imported) -> None:
    captioner = HubCaptioner.load(imported["vit-gpt2"], threads=1)
    words = captioner.tokenizer.encode("a red circle").ids
    end = captioner.config.generation.end
    assert captioner.decode(words) == "a red circle"
    assert captioner.decode([end, *words, end]) == "a red circle"


def test_the_sessions_run_on_the_threads_asked_for(imported) -> None:
    captioner = HubCaptioner.load(imported["blip"], threads=3)
    for session in (captioner.encoder, captioner.step):
        assert session.get_session_options().intra_op_num_threads == 3


class Poisoned:
    """A session whose output number `poisoned` (counting from `first`, across the
    encoder's two and the step's three) has a NaN in it."""

    def __init__(self, session, first: int, poisoned: int) -> None:
        self.session, self.first, self.poisoned = session, first, poisoned

    def run(self, names, feeds):
        outputs = [np.array(output) for output in self.session.run(names, feeds)]
        for index, output in enumerate(outputs):
            if self.first + index == self.poisoned:
                output.flat[0] = np.nan
        return outputs


@pytest.mark.parametrize(
    "poisoned",
    range(5),
    ids=["cross keys", "cross values", "log-probabilities", "step keys", "step values"],
)
def test_one_non_finite_output_fails_the_blank_image_check(imported, poisoned: int) -> None:
    captioner = HubCaptioner.load(imported["vit-gpt2"], threads=1)
    assert captioner.finite_on_blank()
    captioner.encoder = Poisoned(captioner.encoder, 0, poisoned)
    captioner.step = Poisoned(captioner.step, 2, poisoned)
    assert not captioner.finite_on_blank()


def test_an_unreadable_tokenizer_is_refused_naming_the_file_and_the_fix(
    imported, monkeypatch
) -> None:
    """A tokenizer.json the manifest vouches for but this `tokenizers` cannot parse (one
    written by a newer release fails so): refused with the file, the parser's first line,
    and the command that writes it again."""
    import captioner.hub

    def newer_format(path: str):
        raise Exception(
            "data did not match any variant of untagged enum ModelWrapper at line 1 column 9\n"
            "(the rest of the parser's report)"
        )

    monkeypatch.setattr(captioner.hub.Tokenizer, "from_file", newer_format)
    model = imported["vit-gpt2"]
    with pytest.raises(ModelFormatError) as refused:
        HubCaptioner.load(model)
    assert str(refused.value) == (
        f"{model / 'tokenizer.json'} cannot be read (data did not match any variant of "
        f"untagged enum ModelWrapper at line 1 column 9): {refresh_hint(model)}"
    )
    assert "lukewarm import" in str(refused.value)


def test_preprocessing_refuses_an_image_that_is_not_rgb(imported) -> None:
    """`decode_image` gives RGB; anything else reaching the model is a bug, named."""
    preprocess = HubCaptioner.load(imported["blip"], threads=1).config.preprocess
    with pytest.raises(ValueError, match=r"^expected an RGB image, got mode L$"):
        to_pixels(Image.new("L", (8, 8)), preprocess)
