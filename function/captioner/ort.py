"""The ONNX Runtime backend: the model directory's export run on NumPy, never torch.

Two sessions, as Hugging Face optimum's `ORTModelForVision2Seq` keeps them: the
encoder (once per image: the grid, its attention projection and the decoder's initial
state) and the decoder step (once per word); the beam search loop runs here in NumPy,
with the same bookkeeping as the torch backend's (`search.py`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import onnxruntime as ort
from PIL import Image

from .config import ModelConfig, ModelFormatError, Vocabulary, read_config, read_vocabulary
from .exported import ENCODER_FILE, EXPORT_DIR, STEP_FILE, Manifest, read_manifest, refresh_hint
from .preprocess import to_array
from .search import Caption, Generation, Hypothesis, search, stage_timing, to_caption
from .threads import thread_count


def session_options(threads: int) -> ort.SessionOptions:
    """Options for loading an export, chosen by measurement (docs/model.md: "ONNX Runtime
    sessions").

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

    default_beam = 3
    """The beam width when a request names none."""

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
        sessions = load_sessions(model_dir, threads)
        return refuse_unless_finite(cls(config, vocabulary, manifest, *sessions), model_dir)

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
        return all_finite(features, projected, log_probs, hidden, cell)

    @property
    def max_steps(self) -> int:
        """The most decoding steps a caption takes: `max_length` words, then `<end>`."""
        return self.config.max_length + 1

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
            to_caption(
                hypotheses, self.vocabulary.decode, alternatives=alternatives, timing_ms=timing
            )
            for hypotheses in results
        ]


def load_sessions(
    model_dir: Path, threads: int | None = None
) -> tuple[ort.InferenceSession, ort.InferenceSession]:
    """The export's encoder and decoder step sessions (either family's); a graph ONNX
    Runtime cannot load is the model-format error, with the command that rewrites it."""
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
                f"{path} cannot be loaded ({str(error).splitlines()[0]}): {refresh_hint(model_dir)}"
            ) from None
    return sessions[0], sessions[1]


class BlankCheckable(Protocol):
    def finite_on_blank(self) -> bool: ...


Checked = TypeVar("Checked", bound=BlankCheckable)


def refuse_unless_finite(captioner: Checked, model_dir: Path) -> Checked:
    """`captioner`, unless its export gives numbers that are not finite on a blank image:
    every ONNX Runtime family (Show-Attend-Tell's export, a Hub import) is refused at
    init for it, with the command that rewrites the export."""
    if not captioner.finite_on_blank():
        raise ModelFormatError(
            f"{model_dir}'s export gives outputs that are not finite on a blank image "
            f"(NaN or infinite weights): {refresh_hint(model_dir)}"
        )
    return captioner


def all_finite(*arrays: np.ndarray) -> bool:
    return all(bool(np.isfinite(array).all()) for array in arrays)


class NumpyDecoding:
    """What every ONNX Runtime `search.Decoding` shares: the last step's log-probabilities
    in a NumPy array, ranked by `best_candidates`."""

    beam: int
    log_probs: np.ndarray

    def best(
        self,
        scores: list[list[float]],
        count: int,
        *,
        banned: Sequence[tuple[int, int]] = (),
        only: int | None = None,
    ) -> tuple[list[list[float]], list[list[int]]]:
        return best_candidates(
            self.log_probs, scores, count, beam=self.beam, banned=banned, only=only
        )


class OrtDecoding(NumpyDecoding):
    """`search.Decoding` over Show-Attend-Tell's exported decoder step."""

    def __init__(
        self,
        step: ort.InferenceSession,
        encoded: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        beam: int,
    ) -> None:
        self.session = step
        self.beam = beam
        # Every beam of an image attends over the same grid: copied once, never reordered.
        self.features, self.projected, self.hidden, self.cell = (
            np.repeat(array, beam, axis=0) for array in encoded
        )
        self.log_probs = np.empty((0, 0), dtype=np.float32)
        self.vocab_size = 0

    def step(self, tokens: list[int]) -> None:
        self.log_probs, self.hidden, self.cell = self.session.run(
            None,
            {
                "words": np.asarray(tokens, dtype=np.int64),
                "hidden": self.hidden,
                "cell": self.cell,
                "features": self.features,
                "projected": self.projected,
            },
        )
        self.vocab_size = self.log_probs.shape[1]

    def reorder(self, rows: list[int]) -> None:
        self.hidden, self.cell = self.hidden[rows], self.cell[rows]


def best_candidates(
    log_probs: np.ndarray,
    scores: list[list[float]],
    count: int,
    *,
    beam: int,
    banned: Sequence[tuple[int, int]] = (),
    only: int | None = None,
) -> tuple[list[list[float]], list[list[int]]]:
    """`search.Decoding.best` for a step's (images x beam, vocabulary) log-probabilities
    in NumPy: what every ONNX Runtime family's decoding returns."""
    batch = len(scores)
    log_probs = log_probs.reshape(batch, beam, -1)
    if only is not None:
        ended = np.full_like(log_probs, -np.inf)
        ended[:, :, only] = log_probs[:, :, only]
        log_probs = ended
    if banned:
        log_probs = log_probs.copy()
        for row, token in banned:
            log_probs[row // beam, row % beam, token] = -np.inf
    totals = np.asarray(scores, dtype=np.float32)[:, :, None] + log_probs
    top_scores, top_index = _top(totals.reshape(batch, -1), count)
    return top_scores.tolist(), top_index.tolist()


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
    rules = Generation(prompt=(start,), end=end, steps=max_length + 1)
    return search(OrtDecoding(step, encoded, beam), rules, batch=encoded[0].shape[0], beam=beam)


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
