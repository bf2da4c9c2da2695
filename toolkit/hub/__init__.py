"""Hugging Face Hub captioners imported into lukewarm's model directory format.

`import_model(source, out_dir, ...)` (`importer.py`, behind `lukewarm import`) resolves a
Hub id or a local directory, loads it with transformers, and writes a directory the
function serves without torch: `config.json` (family, source, preprocessing, generation
rules, cache sizes), `tokenizer.json`, and `onnx/` with the encoder graph (image to every
decoder layer's cross-attention keys and values) and the decoder step graph (last tokens
and the self-attention cache to log-probabilities and the grown cache).

A family (`families.py`) is a `Family`: which transformers architecture it takes, and its
two graphs as torch modules around the loaded model's own. `random_model` (`random.py`)
builds random-initialised models of either family in the Hub's layout, for tests and
benchmarks (nothing can be downloaded there).
"""

from .families import FAMILIES, Family, family_for
from .importer import HubImportError, ImportReport, import_model

__all__ = ["FAMILIES", "Family", "HubImportError", "ImportReport", "family_for", "import_model"]
