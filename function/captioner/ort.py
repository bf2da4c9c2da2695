"""The ONNX Runtime backend: the model directory's export run on NumPy, never torch.

Two sessions, as Hugging Face optimum's `ORTModelForVision2Seq` keeps them: the
encoder (once per image: the grid, its attention projection and the decoder's initial
state) and the decoder step (once per word); the beam search loop runs here in NumPy,
with the same bookkeeping as the torch backend's (`search.py`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from .config import ModelConfig, ModelFormatError, Vocabulary, read_config, read_vocabulary
from .exported import ENCODER_FILE, EXPORT_DIR, STEP_FILE, Manifest, read_manifest, refresh_hint
from .preprocess import to_array
from .search import Caption, Hypothesis, advance_batch, stage_timing, to_caption
from .threads import thread_count


def session_options(threads: int) -> ort.SessionOptions:
    """Options for loading an export, chosen by measurement (README, "ONNX Runtime sessions").

    `lukewarm export` saved the graphs as ONNX Runtime's extended optimisations leave
    them, which is the same on every CPU, so loading optimises nothing again. The next
    level's layout transforms, which depend on the CPU, made a ResNet-101 caption a few
    percent faster here but cost 0.15 s of session time and 145 MB of peak memory, and
    saved with the export they would tie it to the CPU that made it. The memory arena
    and weight prepacking stay on: turning them off saved no memory.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Threads that spin between operators burn the CPU quota Lambda bills for.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


class OrtCaptioner:
    """A loaded export: what the handler keeps for the life of an instance."""

    def __init__(
        self,
        config: ModelConfig,
        vocabulary: Vocabulary,
        manifest: Manifest,
        encoder: ort.InferenceSession,
        step: ort.InferenceSession,
    ) -> None:
        self.config = config
        self.vocabulary = vocabulary
        self.manifest = manifest
        self.encoder = encoder
        self.step = step

    @classmethod
    def load(cls, model_dir: str | Path, *, threads: int | None = None) -> OrtCaptioner:
        model_dir = Path(model_dir)
        config = read_config(model_dir)
        vocabulary = read_vocabulary(model_dir)
        manifest = read_manifest(model_dir)
        options = session_options(threads or thread_count())
        sessions = []
        for name in (ENCODER_FILE, STEP_FILE):
            path = model_dir / EXPORT_DIR / name
            try:
                sessions.append(
                    ort.InferenceSession(
                        str(path), sess_options=options, providers=["CPUExecutionProvider"]
                    )
                )
            except Exception as error:  # onnxruntime raises its own untyped errors
                raise ModelFormatError(
                    f"{path} cannot be loaded ({str(error).splitlines()[0]}): "
                    f"{refresh_hint(model_dir)}"
                ) from None
        captioner = cls(config, vocabulary, manifest, *sessions)
        if not captioner.finite_on_blank():
            raise ModelFormatError(
                f"{model_dir}'s export gives outputs that are not finite on a blank image "
                f"(NaN or infinite weights): {refresh_hint(model_dir)}"
            )
        return captioner

    def finite_on_blank(self) -> bool:
        """Whether the encoder and one decoder step give finite numbers for a black image.

        Weights of NaN load and run, and their captions are empty strings: refused at init
        instead, for the cost of one pass (the first caption's set-up, paid early)."""
        size = self.config.preprocess.image_size
        blank = to_array(Image.new("RGB", (size, size)), self.config.preprocess)[None]
        features, projected, hidden, cell = self.encoder.run(None, {"images": blank})
        log_probs, hidden, cell = self.step.run(
            None,
            {
                "words": np.array([self.vocabulary.start], dtype=np.int64),
                "hidden": hidden,
                "cell": cell,
                "features": features,
                "projected": projected,
            },
        )
        outputs = (features, projected, log_probs, hidden, cell)
        return all(bool(np.isfinite(array).all()) for array in outputs)

    @property
    def info(self) -> dict[str, str]:
        return {
            "name": self.config.name,
            "version": self.config.version,
            "runtime": self.manifest.runtime,
        }

    def caption(self, image: Image.Image, *, beam: int = 3, alternatives: int = 0) -> Caption:
        """Caption one RGB image; `alternatives` more captions come from the same beam."""
        return self.caption_batch([image], beam=beam, alternatives=alternatives)[0]

    def caption_batch(
        self, images: list[Image.Image], *, beam: int = 3, alternatives: int = 0
    ) -> list[Caption]:
        width = max(beam, alternatives + 1)
        started = time.perf_counter()
        batch = np.stack([to_array(image, self.config.preprocess) for image in images])
        preprocessed = time.perf_counter()
        features, projected, hidden, cell = self.encoder.run(None, {"images": batch})
        encoded = time.perf_counter()
        results = beam_search(
            self.step,
            (features, projected, hidden, cell),
            start=self.vocabulary.start,
            end=self.vocabulary.end,
            beam=width,
            max_length=self.config.max_length,
        )
        decoded = time.perf_counter()
        timing = stage_timing(started, preprocessed, encoded, decoded)
        return [
            to_caption(hypotheses, self.vocabulary, alternatives=alternatives, timing_ms=timing)
            for hypotheses in results
        ]


def beam_search(
    step: ort.InferenceSession,
    encoded: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    start: int,
    end: int,
    beam: int,
    max_length: int,
) -> list[list[Hypothesis]]:
    """`beam.beam_search` over the exported decoder step: the `beam` best captions of
    each image, best first. `encoded` is the encoder session's output for B images."""
    features, projected, hidden, cell = encoded
    batch = features.shape[0]
    k = beam
    # Every beam of an image attends over the same grid: copied once, never reordered.
    features, projected, hidden, cell = (
        np.repeat(array, k, axis=0) for array in (features, projected, hidden, cell)
    )
    words = np.full(batch * k, start, dtype=np.int64)
    sequences = np.empty((batch, k, 0), dtype=np.int64)
    scores = np.zeros((batch, k), dtype=np.float32)
    scores[:, 1:] = -np.inf  # all beams start identical: expand only the first
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    done = [False] * batch

    for length in range(max_length + 1):
        log_probs, hidden, cell = step.run(
            None,
            {
                "words": words,
                "hidden": hidden,
                "cell": cell,
                "features": features,
                "projected": projected,
            },
        )
        log_probs = log_probs.reshape(batch, k, -1)
        if length == max_length:
            # At the length limit a caption can only end.
            ended = np.full_like(log_probs, -np.inf)
            ended[:, :, end] = log_probs[:, :, end]
            log_probs = ended
        vocab = log_probs.shape[2]
        candidates = (scores[:, :, None] + log_probs).reshape(batch, k * vocab)
        # 2k candidates leave k live ones even if every finished one ends here.
        top_scores, top_index = _top(candidates, 2 * k)
        source_beam, next_word = np.divmod(top_index, vocab)

        rows = advance_batch(
            top_scores.tolist(),
            source_beam.tolist(),
            next_word.tolist(),
            sequences.tolist(),
            end=end,
            k=k,
            finished=finished,
            done=done,
        )
        keep_beam, keep_word = np.array(rows[0], np.int64), np.array(rows[1], np.int64)
        keep_score = np.array(rows[2], np.float32)
        if all(done):
            break

        flat_source = (keep_beam + np.arange(batch)[:, None] * k).reshape(-1)
        sequences = np.concatenate(
            [sequences[np.arange(batch)[:, None], keep_beam], keep_word[:, :, None]], axis=2
        )
        scores = keep_score
        words = keep_word.reshape(-1)
        hidden, cell = hidden[flat_source], cell[flat_source]

    return finished


def _top(candidates: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The `count` largest values of each row and their indices, largest first, ties
    lower index first (as torch's `topk` on CPU). A row with fewer finite values ends in
    -inf values, whose indices mean nothing.

    One `argmax` per pick: with 2k = 6 picks among 3 x 9,490 candidates a step, that is
    a tenth of the time of a partition of the whole row."""
    count = min(count, candidates.shape[1])
    remaining = candidates.copy()
    rows = np.arange(candidates.shape[0])
    values = np.empty((candidates.shape[0], count), dtype=candidates.dtype)
    indices = np.empty((candidates.shape[0], count), dtype=np.int64)
    for pick in range(count):
        best = remaining.argmax(axis=1)
        indices[:, pick] = best
        values[:, pick] = remaining[rows, best]
        remaining[rows, best] = -np.inf
    return values, indices
