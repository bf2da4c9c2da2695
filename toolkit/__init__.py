"""The torch-side model tools: never in the image, never imported by what is deployed.

What lives here: the demo model's scenes (`scenes`), its training (`train`) and scoring
(`evaluate`), the ONNX export (`export`), checkpoint conversion (`convert`), the one
"do two runtimes caption alike" measure (`alike`) and its report (`agreement`), and the
import of Hugging Face Hub captioners (`hub`, behind `lukewarm import`).

What it may import: `captioner` (the model it trains, exports and scores), torch, ONNX,
transformers and the scientific stack. Never `lukewarm` (the command line dispatches to
these modules, not the other way round), `infra`, `warmer` or `pruner`.
"""

import os

# OpenMP threads that spin while they wait for each other make training several times
# slower on a shared CPU (measured: 6.8 s against 1.4 s a step with other jobs
# running). Set before torch loads, so that it applies.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
