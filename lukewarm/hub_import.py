"""`lukewarm import SOURCE OUT_DIR [--quantize int8] [--calibration DIR] [--revision REV]
[--trust-pickle]`: a Hugging Face Hub captioner (ViT-GPT2 or BLIP) imported once into a
model directory the function serves without torch (the work is `toolkit.hub`'s)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help="a Hub id (e.g. nlpconnect/vit-gpt2-image-captioning) or a local directory in "
        "the Hub's layout (config.json, model.safetensors, tokenizer and preprocessor files)",
    )
    parser.add_argument(
        "out_dir", type=Path, metavar="OUT_DIR", help="the model directory to write"
    )
    parser.add_argument(
        "--quantize",
        choices=("none", "int8"),
        default="none",
        help="int8: smaller, faster graphs whose captions can differ; the import prints how "
        "often they equal fp32's on the calibration images (default %(default)s)",
    )
    parser.add_argument(
        "--calibration",
        type=Path,
        metavar="DIR",
        help="photos like the ones the model will caption, to judge int8 against fp32",
    )
    parser.add_argument("--revision", help="a Hub branch, tag or commit (default: main)")
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow pickled weights (pytorch_model.bin): loading them runs code from the file",
    )


def run(args: argparse.Namespace) -> int:
    # transformers' and the Hub's progress bars and advice would bury the command's answer.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    from toolkit.hub import HubImportError, import_model

    try:
        report = import_model(
            args.source,
            args.out_dir,
            quantize=args.quantize,
            calibration=args.calibration,
            revision=args.revision,
            trust_pickle=args.trust_pickle,
        )
    except HubImportError as error:
        print(f"lukewarm import: {error}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0
