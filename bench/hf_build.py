"""Builds one family's models for `bench.hf`, in a process of its own (it imports torch).

`python -m bench.hf_build FAMILY SIZE BEAM STEPS OUT`: the random source in the Hub's
layout at OUT/source (its generation config decoding exactly STEPS tokens at beam BEAM:
`min_length` = `max_length`, so end of sentence is suppressed until the last step), then
its lukewarm imports at OUT/onnx (fp32) and OUT/onnx-int8 (int8, calibrated on the
repository's photos), then OUT/done.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from toolkit.hub import import_model
from toolkit.hub.random import random_model

PHOTOS = Path(__file__).resolve().parent.parent / "data" / "photos"
PROMPT = 1
"""Both families' prompt: one start token (GPT-2's end-of-text, BLIP's [DEC])."""


def main(family: str, size: str, beam: int, steps: int, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    length = PROMPT + steps
    source = random_model(
        family, out / "source", size=size, num_beams=beam, max_length=length, min_length=length
    )
    # What the Hub holds beside tokenizer.json, so that transformers' AutoTokenizer (and
    # with it the pipeline) can load the locally trained tokenizer.
    (source / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}) + "\n"
    )
    for name, quantize in (("onnx", "none"), ("onnx-int8", "int8")):
        calibration = PHOTOS if quantize == "int8" else None
        report = import_model(str(source), out / name, quantize=quantize, calibration=calibration)
        print("\n".join(report.lines()), flush=True)
    (out / "done").touch()


if __name__ == "__main__":
    family, size, beam, steps, out = sys.argv[1:]
    main(family, size, int(beam), int(steps), Path(out))
