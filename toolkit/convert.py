"""`lukewarm convert CHECKPOINT WORD_MAP OUT_DIR`: a Show, Attend and Tell checkpoint in
the format of the widely used PyTorch captioning tutorial (sgrvinod's
"a-PyTorch-Tutorial-to-Image-Captioning": `torch.save({"encoder": ..., "decoder": ...})`
with a ResNet encoder and `DecoderWithAttention`, plus its `WORDMAP_*.json`) to a
lukewarm model directory: `config.json`, `vocab.json`, `weights.safetensors`, and the
ONNX export the function runs (`lukewarm export`, fp32).

The checkpoint is read with `torch.load(weights_only=True)`, which only rebuilds
tensors and plain containers. The tutorial's own checkpoints pickle whole modules and
optimizers; loading those runs code from the file, so it needs `--trust-pickle`. The
model directory it writes holds no pickle: the deployed function never runs one.
"""

# torch and captioner load only when a conversion runs: `lukewarm convert --help` stays instant.

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import sys
import types
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from torch import Tensor

    from captioner import ModelConfig, Vocabulary

SPECIAL_TOKENS = ("<pad>", "<start>", "<end>", "<unk>")
# Modules whose classes a tutorial checkpoint pickles: its own `models.py` and torchvision.
TUTORIAL_MODULES = ("models", "torchvision")
PICKLE_WARNING = (
    "A pickled checkpoint is code: loading it can run anything its author put in it. "
    "Only convert checkpoints from a source you trust."
)


class ConversionError(Exception):
    """A checkpoint or word map that cannot become a lukewarm model, and why."""


@dataclass(frozen=True)
class Conversion:
    config: ModelConfig
    vocabulary: Vocabulary
    state: dict[str, Tensor]
    """Tensors by lukewarm's parameter names, vocabulary rows already in lukewarm's order."""
    parameters: int
    """Learned weights (batch-norm statistics not counted)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint", type=Path, metavar="CHECKPOINT", help="the tutorial's checkpoint (.pth.tar)"
    )
    parser.add_argument(
        "word_map", type=Path, metavar="WORD_MAP", help="its word map, WORDMAP_*.json"
    )
    parser.add_argument(
        "out_dir", type=Path, metavar="OUT_DIR", help="the model directory to write"
    )
    parser.add_argument(
        "--name", default="show-attend-tell", help="model name (default %(default)s)"
    )
    parser.add_argument("--version", default="1", help="model version (default %(default)s)")
    parser.add_argument(
        "--encoded-size",
        type=int,
        metavar="CELLS",
        default=14,
        help="side of the encoder's pooled grid the checkpoint was trained with (default 14)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        metavar="PIXELS",
        default=256,
        help="side of the square the images are resized to (default 256)",
    )
    parser.add_argument(
        "--max-length",
        type=int,
        metavar="WORDS",
        default=24,
        help="most words in a caption (default 24)",
    )
    parser.add_argument(
        "--quantize",
        choices=("none", "int8-dynamic"),
        default="none",
        help="int8-dynamic: quantize the decoder at load; faster, slightly different captions",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow checkpoints that pickle whole modules (this runs code from the file)",
    )
    parser.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")


def run(args: argparse.Namespace) -> int:
    try:
        _check_out_dir(args.out_dir, force=args.force)
        word_map = read_word_map(args.word_map)
        encoder, decoder, pickled = load_checkpoint(args.checkpoint, trust_pickle=args.trust_pickle)
        conversion = convert(
            encoder,
            decoder,
            word_map,
            name=args.name,
            version=args.version,
            encoded_size=args.encoded_size,
            image_size=args.image_size,
            max_length=args.max_length,
            quantize=args.quantize,
        )
        write_model(args.out_dir, conversion, force=args.force)
    except ConversionError as error:
        print(f"lukewarm convert: {error}", file=sys.stderr)
        return 1
    _report(args, conversion, pickled)
    return 0


def read_word_map(path: Path) -> dict[str, int]:
    """The tutorial's word map, {word: id}, checked: ids 0..V-1, special tokens present."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConversionError(f"cannot read word map {path}: {error.strerror or error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConversionError(f"word map {path} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in data.values()
    ):
        raise ConversionError(f"word map {path} must be a JSON object of word to integer id")
    missing = [token for token in SPECIAL_TOKENS if token not in data]
    if missing:
        raise ConversionError(f"word map {path} lacks the special tokens {missing}")
    if sorted(data.values()) != list(range(len(data))):
        raise ConversionError(
            f"word map {path} must number its {len(data)} words 0-{len(data) - 1}, each once"
        )
    return data


def load_checkpoint(path: Path, *, trust_pickle: bool) -> tuple[Any, Any, bool]:
    """The checkpoint's encoder and decoder (modules or state dicts), and whether the
    file had to be unpickled as code."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        pickled = False
    except FileNotFoundError:
        raise ConversionError(f"checkpoint {path} does not exist") from None
    except IsADirectoryError:
        raise ConversionError(f"checkpoint {path} is a directory, not a file") from None
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL (\S+) was not an allowed global", str(error))
        if found is None:
            raise ConversionError(
                f"{path} is not a PyTorch checkpoint: {_first_line(error)}"
            ) from None
        if not trust_pickle:
            raise ConversionError(
                f"{path} pickles Python objects, not just tensors (first: {found.group(1)}). "
                f"{PICKLE_WARNING} If you trust it, run again with --trust-pickle; or re-save "
                "it as state dicts: torch.save({'encoder': encoder.state_dict(), "
                "'decoder': decoder.state_dict()}, path)."
            ) from None
        print(f"lukewarm convert: {PICKLE_WARNING} (--trust-pickle given)", file=sys.stderr)
        checkpoint = _load_pickled(path)
        pickled = True
    except (RuntimeError, EOFError, OSError, KeyError, ValueError) as error:
        raise ConversionError(f"{path} is not a PyTorch checkpoint: {_first_line(error)}") from None
    if not isinstance(checkpoint, Mapping):
        raise ConversionError(f"{path} holds a {type(checkpoint).__name__}, not a dict")
    if "encoder" in checkpoint and "decoder" in checkpoint:
        return checkpoint["encoder"], checkpoint["decoder"], pickled
    if any(str(key).startswith("decoder.") for key in checkpoint):
        # One flat state dict of the whole model: encoder.* and decoder.* names.
        return _sub_state(checkpoint, "encoder."), _sub_state(checkpoint, "decoder."), pickled
    names = ", ".join(sorted(str(key) for key in checkpoint)[:8]) or "nothing"
    raise ConversionError(
        f"{path} has no 'encoder' and 'decoder' entries (found {names}): "
        "not a captioning tutorial checkpoint"
    )


def convert(
    encoder: Any,
    decoder: Any,
    word_map: dict[str, int],
    *,
    name: str,
    version: str,
    encoded_size: int = 14,
    image_size: int = 256,
    max_length: int = 24,
    quantize: str = "none",
) -> Conversion:
    """Rename, reorder and check every tensor against the config it implies."""
    from captioner import ModelConfig, ModelFormatError, Vocabulary, build_model
    from captioner.config import DecoderConfig, EncoderConfig, PreprocessConfig

    encoder_state = _state_dict(encoder, "encoder")
    decoder_state = _state_dict(decoder, "decoder")
    needed = ("embedding.weight", "attention.encoder_att.weight", "init_h.weight")
    missing = [key for key in needed if key not in decoder_state]
    if missing:
        raise ConversionError(f"the decoder lacks {missing}: not a DecoderWithAttention")
    vocab_size, embed_dim = decoder_state["embedding.weight"].shape
    if vocab_size != len(word_map):
        raise ConversionError(
            f"the word map has {len(word_map)} words but the decoder's embedding has "
            f"{vocab_size} rows: is it the word map this checkpoint was trained with?"
        )
    try:
        config = ModelConfig(
            name=name,
            version=version,
            encoder=EncoderConfig(
                backbone=_backbone(encoder_state), stages=4, encoded_size=encoded_size
            ),
            decoder=DecoderConfig(
                embed_dim=int(embed_dim),
                attention_dim=int(decoder_state["attention.encoder_att.weight"].shape[0]),
                decoder_dim=int(decoder_state["init_h.weight"].shape[0]),
            ),
            preprocess=PreprocessConfig(image_size=image_size),
            max_length=max_length,
            quantize=quantize,
        )
    except ModelFormatError as error:
        raise ConversionError(str(error)) from None

    order = [word_map[token] for token in SPECIAL_TOKENS]
    order += sorted(set(word_map.values()) - set(order))
    words = {i: word for word, i in word_map.items()}
    vocabulary = Vocabulary(tuple(words[i] for i in order))

    state = {f"encoder.{k}": v for k, v in encoder_state.items()}
    state |= {f"decoder.{k}": v for k, v in decoder_state.items()}
    model = build_model(config, vocab_size)
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            # Checkpoints from before torch 0.4.1 lack this counter; eval never reads it.
            state[key] = _zeros_like(tensor)
    _check_shapes(state, expected)
    for key in ("decoder.embedding.weight", "decoder.fc.weight", "decoder.fc.bias"):
        state[key] = state[key][order]
    state = {
        key: (t.float() if t.is_floating_point() else t).contiguous() for key, t in state.items()
    }
    parameters = sum(p.numel() for p in model.parameters())
    return Conversion(config, vocabulary, state, parameters)


def write_model(out_dir: Path, conversion: Conversion, *, force: bool = False) -> None:
    """Write the model directory and its ONNX export next to OUT_DIR, load it back, then
    move it into place: a failure anywhere leaves OUT_DIR as it was."""
    from captioner import Captioner, ModelFormatError, build_model, save_model
    from toolkit.export import ExportError, export_model

    _check_out_dir(out_dir, force=force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.converting-{os.getpid()}"
    retired = out_dir.parent / f".{out_dir.name}.replaced-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        model = build_model(conversion.config, len(conversion.vocabulary))
        model.load_state_dict(conversion.state, strict=True, assign=True)
        save_model(staging, conversion.config, conversion.vocabulary, model)
        Captioner.load(staging)
        export_model(staging)
        if out_dir.exists():
            out_dir.rename(retired)
        staging.rename(out_dir)
    except (OSError, ModelFormatError, ExportError) as error:
        if retired.exists() and not out_dir.exists():
            retired.rename(out_dir)
        raise ConversionError(f"could not write {out_dir}: {error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)


def _check_out_dir(out_dir: Path, *, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConversionError(f"{out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise ConversionError(f"{out_dir} exists and is not empty (--force replaces it)")


class _TutorialUnpickler(pickle.Unpickler):
    """Unpickles the tutorial's modules without its code or torchvision.

    A pickled `nn.Module` restores its parameters and submodules from its `__dict__`
    alone, so a bare `nn.Module` subclass of the same name stands in for each of the
    tutorial's classes (`models.Encoder`, ...) and torchvision's (`Bottleneck`).
    Every other class resolves as usual: that is why this still needs trust.
    """

    stand_ins: ClassVar[dict[tuple[str, str], type]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".", maxsplit=1)[0] in TUTORIAL_MODULES:
            from torch import nn

            key = (module, name)
            if key not in self.stand_ins:
                self.stand_ins[key] = type(name, (nn.Module,), {"__module__": module})
            return self.stand_ins[key]
        return super().find_class(module, name)


def _load_pickled(path: Path) -> Any:
    import torch

    tutorial_pickle = types.ModuleType("tutorial_pickle")
    tutorial_pickle.Unpickler = _TutorialUnpickler  # type: ignore[attr-defined]
    tutorial_pickle.load = pickle.load  # type: ignore[attr-defined]
    try:
        with warnings.catch_warnings():
            # Old checkpoints carry their classes' source for torch to compare; the
            # stand-ins have none, by design.
            warnings.filterwarnings("ignore", message="Couldn't retrieve source code")
            return torch.load(
                path, map_location="cpu", weights_only=False, pickle_module=tutorial_pickle
            )
    except (pickle.UnpicklingError, AttributeError, ModuleNotFoundError, RuntimeError) as error:
        raise ConversionError(f"cannot unpickle {path}: {_first_line(error)}") from None


def _state_dict(part: Any, label: str) -> dict[str, Tensor]:
    from torch import Tensor, nn

    if isinstance(part, nn.Module):
        part = part.state_dict()
    if not isinstance(part, Mapping) or not all(isinstance(v, Tensor) for v in part.values()):
        raise ConversionError(f"the checkpoint's {label} is neither a module nor a state dict")
    # nn.DataParallel saves every name under `module.`.
    return {str(k).removeprefix("module."): v for k, v in part.items()}


def _sub_state(state: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}


def _backbone(encoder_state: Mapping[str, Tensor]) -> str:
    """The torchvision ResNet whose blocks these are, from the block count of each stage
    (`resnet.4` … `resnet.7`) and the block type (bottlenecks have a `conv3`)."""
    from captioner.config import BACKBONES

    blocks = []
    for stage in range(4, 8):
        indices = {
            int(key.split(".")[2])
            for key in encoder_state
            if key.startswith(f"resnet.{stage}.") and key.split(".")[2].isdigit()
        }
        blocks.append(len(indices))
    block = "bottleneck" if "resnet.4.0.conv3.weight" in encoder_state else "basic"
    for name, (kind, layers) in BACKBONES.items():
        if kind == block and tuple(blocks) == layers:
            return name
    raise ConversionError(
        f"the encoder is not a torchvision ResNet trunk (`resnet.*`): found {block} blocks "
        f"{blocks} per stage; lukewarm knows {', '.join(BACKBONES)}"
    )


def _check_shapes(state: Mapping[str, Tensor], expected: Mapping[str, Tensor]) -> None:
    problems = [f"missing {_tutorial_name(k)}" for k in sorted(expected.keys() - state.keys())]
    problems += [f"unexpected {_tutorial_name(k)}" for k in sorted(state.keys() - expected.keys())]
    problems += [
        f"{_tutorial_name(k)} has shape {tuple(state[k].shape)}, expected {tuple(t.shape)}"
        for k, t in expected.items()
        if k in state and state[k].shape != t.shape
    ]
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ConversionError(
            f"the checkpoint does not fit a Show-Attend-Tell model: {'; '.join(problems[:5])}{more}"
        )


def _tutorial_name(key: str) -> str:
    """`decoder.fc.weight` → `decoder: fc.weight`, the name as the checkpoint has it."""
    part, _, rest = key.partition(".")
    return f"{part}: {rest}"


def _zeros_like(tensor: Tensor) -> Tensor:
    import torch

    return torch.zeros(tensor.shape, dtype=tensor.dtype)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _report(args: argparse.Namespace, conversion: Conversion, pickled: bool) -> None:
    from captioner.config import CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE
    from captioner.exported import EXPORT_DIR

    config = conversion.config
    weights_mb = (args.out_dir / WEIGHTS_FILE).stat().st_size / 1e6
    grid = config.encoder.encoded_size
    print(
        f"Converted {args.checkpoint} ({'pickled modules' if pickled else 'tensors only'}): "
        f"{len(conversion.state)} tensors, {conversion.parameters:,} parameters"
    )
    print(
        f"  encoder {config.encoder.backbone}, {grid}x{grid} grid of "
        f"{config.encoder.channels} channels, images resized to {config.preprocess.image_size}"
    )
    print(
        f"  decoder embed {config.decoder.embed_dim}, attention {config.decoder.attention_dim}, "
        f"hidden {config.decoder.decoder_dim}; vocabulary {len(conversion.vocabulary):,} words "
        f"(special tokens moved to ids 0-3); quantize {config.quantize}"
    )
    print(
        f"Wrote {args.out_dir}/: {CONFIG_FILE}, {VOCAB_FILE}, "
        f"{WEIGHTS_FILE} ({weights_mb:.1f} MB) as {config.name} {config.version}, "
        f"and its ONNX export in {EXPORT_DIR}/"
    )
