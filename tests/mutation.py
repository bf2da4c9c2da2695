"""`make mutation`: how many deliberate bugs the fast tests catch, per module and overall.

mutmut 3 names a mutant after its file's path (`function/app.py` → `function.app`) but
the tests import the handler as `app`, with `function/` as the task root. So each module
runs in its own staging folder, `.mutation/<module>/`, laid out the way the code is
imported: `app.py` and `captioner/` at the top, beside `warmer/`, `infra/` and the tests.
mutmut copies that folder into its `mutants/` and runs only the tests listed here for the
module (the fast ones that cover it).

A surviving mutant that no test could ever kill (an equivalent mutant: the program
behaves the same) is listed in `EQUIVALENT` with the reason, and left out of the score.

mutmut's own verdicts are made real before the run: the tests' tiny models are built once
(not by each mutant's test session), its time limit allows for pytest's start-up, measured
(`stage`), and a test id that pytest would not find again in mutmut's workers stops the run
(`unstable_test_ids`). What mutmut still calls a timeout, or its runner failing (exit 255,
which it also calls a timeout), is settled: the mutant's tests run again, allowed
`SETTLE_FACTOR` times their clean duration (measured), until they fail (killed) or pass
(survived); one that still overruns stays a timeout, counted apart. A survivor is run
again against all the module's tests (`RECHECKED`). One line per module, and the last for
all:

    mutation <module>: killed=<n> survived=<n> timeout=<n> score=<killed / (killed + survived)>

    python -m tests.mutation [MODULE ...]    # app, uploads, events, search, hub, images,
                                             # warmer, settings (default: all)
    python -m tests.mutation --again [MODULE ...]    # what was not killed, run again
    python -m tests.mutation --report [MODULE ...]   # the last run's lines, nothing run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import HUB_MODELS_ENV, TINY_MODEL_ENV

ROOT = Path(__file__).resolve().parent.parent
STAGING = ROOT / ".mutation"
TARGET_SCORE = 0.80


@dataclass(frozen=True)
class Module:
    source: str
    """The mutated file, as the staging folder lays it out."""
    package: str
    """Its top-level folder or file in the staging folder (copied whole, this file mutated)."""
    tests: tuple[str, ...]
    """The fast tests that cover it."""
    deselect: tuple[str, ...] = ()
    """Tests that cannot pass on mutated code (mutmut's instrumentation imports mutmut)."""
    hub_models: bool = False
    """Its tests read the tiny Hub models, built once (`build_hub_models`)."""


APP_TESTS = (
    "tests/function/test_app.py",
    "tests/function/test_snapstart.py",
    "tests/function/test_hostile_input.py",
)

MODULES = {
    "app": Module("app.py", "app.py", APP_TESTS),
    "uploads": Module("uploads.py", "uploads.py", APP_TESTS),
    "events": Module("events.py", "events.py", APP_TESTS),
    "search": Module(
        "captioner/search.py",
        "captioner",
        (
            "tests/function/test_search.py",
            "tests/function/test_model.py",
            "tests/function/test_onnx_runtime.py",
            "tests/function/test_app.py",
        ),
    ),
    "hub": Module(
        "captioner/hub.py",
        "captioner",
        ("tests/toolkit/test_hub_import.py", "tests/function/test_onnx_runtime.py"),
        hub_models=True,
    ),
    "images": Module(
        "captioner/images.py",
        "captioner",
        (
            "tests/function/test_images.py",
            "tests/function/test_hostile_images.py",
            "tests/function/test_app.py",
            "tests/function/test_hostile_input.py",
        ),
    ),
    "warmer": Module(
        "warmer/handler.py",
        "warmer",
        ("tests/warmer/test_handler.py", "tests/warmer/test_prewarm_active.py"),
    ),
    "settings": Module(
        "infra/settings.py",
        "infra",
        ("tests/infra",),
    ),
}

# Staging path → checkout path. `function/` is copied whole too (the demo model, the
# Dockerfile) but is not on the import path, so `app` and `captioner` are the mutated ones.
LAYOUT = {
    "app.py": "function/app.py",
    "uploads.py": "function/uploads.py",
    "events.py": "function/events.py",
    "captioner": "function/captioner",
    "contract": "function/contract",
    "static": "function/static",
    "function": "function",
    "warmer": "warmer",
    "pruner": "pruner",
    "infra": "infra",
    "lukewarm": "lukewarm",
    "toolkit": "toolkit",
    "bench": "bench",
    "data": "data",
    "tests": "tests",
    "__main__.py": "__main__.py",
    "Pulumi.yaml": "Pulumi.yaml",
}


@dataclass(frozen=True)
class Equivalent:
    function: str
    """The mutated function (mutmut's mangled name without the module: `x_warm_up`)."""
    mutated: str
    """The mutated line, stripped, exactly as `mutmut show` prints it after `+`."""
    reason: str


CLAMPED = "Pillow clamps a colour channel to 0-255: 256 is 255, the same white"
DRAFT_MODE = (
    "draft() takes the scale from the size; its mode only picks a JPEG decoder conversion "
    "that to_rgb does anyway (same pixels, checked on RGB, grey and CMYK JPEGs)"
)

ONLY_ZERO_READ = (
    "only `invocations == 0` is read: any count that is no longer 0 after the first "
    "invocation gives the same cold/warm answers"
)
SAME_CODEC = "UTF-8 and utf-8 name the same codec"
ONE_TOP_K = (
    "the lists zipped are built for the same k rows (one top-k, or one per image): always of "
    "one length, so zip's strict check never fires"
)

SAME_REST_REPLY = (
    "`_refusal` gives a REST API event `multiValueHeaders`, any other `headers`; REST API "
    "reads either (and HTTP API's own answer is unchanged): the client gets the same reply"
)

EIGHT_BIT_TIMES_FLOAT32 = (
    "8-bit pixels times the float32 rescale are float32, each value exact: the same as "
    "converting them first"
)
FIRST_STEP_SETS = (
    "the log-probabilities are replaced by the first step before anything reads them (the "
    "search and the blank-image check both step first)"
)
DEFAULT_INT64 = "NumPy's default integer is int64 on 64-bit Linux, the only platform Lambda runs"
BIG_ENDIAN = "int.from_bytes reads big-endian when not told (Python 3.11)"
SHORT_FRAME = (
    "Pillow refuses a JPEG frame header under 6 bytes when it opens the file, before "
    "jpeg_frame reads it (checked for 0 to 5 bytes)"
)

EQUIVALENT: dict[str, tuple[Equivalent, ...]] = {
    "app": (
        *(
            Equivalent("x_log_json", line, reason)
            for line, reason in (
                (
                    "line = json.dumps(record, default=str, separators=None, ensure_ascii=False)",
                    "the same JSON document, with spaces after separators",
                ),
                (
                    "line = json.dumps(record, default=str, ensure_ascii=False)",
                    "the same JSON document, with spaces after separators",
                ),
                (
                    'line = json.dumps(record, default=str, separators=(",", ":"), '
                    "ensure_ascii=None)",
                    "json reads ensure_ascii for its truth: None is False",
                ),
                ('return line.encode("UTF-8", "backslashreplace").decode("utf-8")', SAME_CODEC),
                ('return line.encode("utf-8", "backslashreplace").decode("UTF-8")', SAME_CODEC),
            )
        ),
        Equivalent(
            "x__serve",
            'response["isBase64Encoded"] = True',
            "a HEAD answer's body is empty: base64-decoded, it is still empty",
        ),
        *(
            Equivalent("x__serve", line, SAME_REST_REPLY)
            for line in (
                "return _refusal(None, MethodNotAllowed(method, path, allowed))",
                'return _refusal(None, RouteNotFound(f"no route {method} {path}"))',
                'return _malformed_event(None, "the event is not a well-formed API Gateway event")',
            )
        ),
        *(
            Equivalent("xǁInstanceǁbegin_invocation", line, ONLY_ZERO_READ)
            for line in ("self.invocations = 1", "self.invocations -= 1", "self.invocations += 2")
        ),
    ),
    "uploads": (
        Equivalent("x__body_bytes", 'return body.encode("UTF-8", "surrogatepass")', SAME_CODEC),
        Equivalent(
            "x_read_image_bytes",
            'content_type = event.headers.get("CONTENT-TYPE") or ""',
            "Powertools' event headers are looked up case-insensitively",
        ),
        Equivalent(
            "x__image_from_multipart",
            'header = content_type.encode("UTF-8", "surrogateescape")',
            SAME_CODEC,
        ),
        *(
            Equivalent(
                "x__image_from_multipart",
                f"body = body[start + 2 :] if {test} else body",
                "they differ only at start 0, a body that opens with CRLF and the boundary: "
                "python-multipart skips a leading CRLF itself, the same parse",
            )
            for test in ("start > 0", "start >= 1")
        ),
        Equivalent(
            "x__image_from_multipart",
            "removed: max_header_count=MAX_PART_HEADERS,",
            "python-multipart's own default is 8 header lines, MAX_PART_HEADERS",
        ),
        Equivalent(
            "xǁ_Formǁ__init__", "self.ended = None", "only `not form.ended` is read: None is False"
        ),
        Equivalent(
            "x__image_from_multipart",
            'return b"XXXX".join(form.image)',
            "the body goes to the parser in one write, and the image comes out in one piece "
            "(also when its bytes begin like the boundary): one piece is joined with no separator",
        ),
        Equivalent(
            "xǁ_Formǁ_start_part",
            'self._disposition = b"XXXX"',
            "the part's name is a parameter after the first ';' of Content-Disposition: "
            "a prefix on the disposition type changes no parameter",
        ),
        *(
            Equivalent(
                method,
                line,
                "the whole body goes to the parser in one write: each header name and value "
                "arrives in one callback, so = and += keep the same bytes",
            )
            for method, line in (
                ("xǁ_Formǁheader_field", "self._header_field = data[start:end]"),
                ("xǁ_Formǁheader_value", "self._disposition = data[start:end]"),
            )
        ),
        *(
            Equivalent(
                "x_read_image_bytes",
                f'media_type = content_type.split(";", {splits})[0].strip().lower()',
                "only the text before the first ';' is kept, however many splits follow",
            )
            for splits in ("", "2")
        ),
    ),
    "search": (
        *(
            Equivalent("x_advance", line, ONE_TOP_K)
            for line in (
                "for rank, (score, source, word) in enumerate(zip(scores, sources, words, "
                "strict=None)):",
                "for rank, (score, source, word) in enumerate(zip(scores, sources, words, )):",
                "for rank, (score, source, word) in enumerate(zip(scores, sources, words, "
                "strict=False)):",
            )
        ),
        *(
            Equivalent(function, line, 'float() reads "-INF" as "-inf"')
            for function, line in (
                ("x_advance", 'if score == float("-INF") or len(survivors) == k:'),
                ("x_advance", 'best_live = survivors[0].score if survivors else float("-INF")'),
                ("x_advance_batch", 'keep_score = [[float("-INF")] * k for _ in scores]'),
                ("x_search", 'scores = [[0.0] + [float("-INF")] * (k - 1) for _ in range(batch)]'),
            )
        ),
        Equivalent(
            "x_advance",
            'if rules.early_stopping == "never" and rules.length_penalty >= 0:',
            "they differ at a length penalty of 0, where any length to the power 0 is 1",
        ),
        *(
            Equivalent(
                "x_search",
                f"checks_history = {test}",
                "the history is checked also when no rule can ban anything: a minimum length "
                "of 0 or 1 (a sequence holds its prompt) or no n-gram rule; the same bans",
            )
            for test in (
                "rules.no_repeat_ngram_size >= 0 or rules.min_length > 0",
                "rules.no_repeat_ngram_size > 0 or rules.min_length >= 0",
                "rules.no_repeat_ngram_size > 0 or rules.min_length > 1",
            )
        ),
        *(
            Equivalent("x_search", line, ONE_TOP_K)
            for line in (
                "[(*sequences[b][source], word) for source, word in zip(beams, words, "
                "strict=None)]",
                "[(*sequences[b][source], word) for source, word in zip(beams, words, )]",
                "[(*sequences[b][source], word) for source, word in zip(beams, words, "
                "strict=False)]",
                "for b, (beams, words) in enumerate(zip(keep_beam, keep_word, strict=None))",
                "for b, (beams, words) in enumerate(zip(keep_beam, keep_word, ))",
                "for b, (beams, words) in enumerate(zip(keep_beam, keep_word, strict=False))",
            )
        ),
        Equivalent(
            "x_search",
            "top_scores, top_index = decoding.best(scores, 3 * k, banned=banned, only=only)",
            "each beam has one end token, so 2k candidates already hold k live ones: `advance` "
            "stops at k live and lets only the first k finish, whatever comes after",
        ),
        Equivalent(
            "x_search",
            "if all(done) and last:",
            "steps after every image is done change nothing (`advance_batch` skips done "
            "images), and the last step ends the loop anyway",
        ),
        Equivalent(
            "x_search",
            "banned = banned_tokens(rows, rules, )",
            "the rows of an image that is done are decoded on but never read again: tokens "
            "banned in them change no caption",
        ),
        Equivalent(
            "x_search",
            "banned = banned_tokens(rows, rules, skip=None)",
            "the rows of an image that is done are decoded on but never read again: tokens "
            "banned in them change no caption",
        ),
        *(
            Equivalent(
                "x_banned_tokens",
                f"if size <= 0 or {test}:",
                "at the one length where the two tests differ, the loop over earlier n-grams "
                "has no turn (range of 0 or -1): nothing is banned either way",
            )
            for test in ("len(sequence) + 2 < size", "len(sequence) + 1 <= size")
        ),
        *(
            Equivalent(
                "x__greedy",
                f"return replace(rules, early_stopping={value})",
                "at width 1 a finished caption is its step's best candidate, above every live "
                "beam at the same length: False (None reads as False) stops there as True does; "
                "only `never` with a length penalty goes on, and that is kept out",
            )
            for value in ("None", "False")
        ),
    ),
    "hub": (
        *(
            Equivalent(
                "x_to_pixels", f"pixels = {line}.transpose(2, 0, 1)", EIGHT_BIT_TIMES_FLOAT32
            )
            for line in ("np.asarray(resized, dtype=None)", "np.asarray(resized, )")
        ),
        *(
            Equivalent("xǁHubDecodingǁ__init__", f"self.log_probs = {value}", FIRST_STEP_SETS)
            for value in (
                "None",
                "np.empty((0, 0), dtype=None)",
                "np.empty((0, 0), )",
                "np.empty((1, 0), dtype=np.float32)",
                "np.empty((0, 1), dtype=np.float32)",
            )
        ),
        Equivalent(
            "xǁHubDecodingǁ__init__",
            "rows = self.cross_keys.shape[1]",
            "the first step's cache is empty, and ONNX Runtime's Concat leaves an empty input "
            "out whatever its other sizes (every Hub test passes with it wrong); later steps "
            "take the cache the step returns",
        ),
        *(
            Equivalent(
                "xǁHubCaptionerǁfinite_on_blank",
                f"return all_finite({arguments})",
                "the step attends over every cross key and value: one that is not finite makes "
                "its log-probabilities not finite too (a NaN in either still fails the check)",
            )
            for arguments in (
                "values, decoding.log_probs, decoding.keys, decoding.values",
                "keys, decoding.log_probs, decoding.keys, decoding.values",
            )
        ),
        Equivalent(
            "xǁHubCaptionerǁdecode",
            "return str(self.tokenizer.decode(tokens, )).strip()",
            "tokenizers' decode skips special tokens unless told otherwise",
        ),
        *(
            Equivalent("xǁHubDecodingǁstep", f'"{name}": {call},', DEFAULT_INT64)
            for name, call in (
                ("tokens", "np.asarray(tokens, dtype=None)"),
                ("tokens", "np.asarray(tokens, )"),
                ("positions", "np.full(rows, self.position, dtype=None)"),
                ("positions", "np.full(rows, self.position, )"),
            )
        ),
    ),
    "images": (
        *(
            Equivalent(
                "x__tiff_chunk_bytes",
                line,
                "only a TIFF is measured, and Pillow's TIFF image always has tag_v2",
            )
            for line in (
                'tags = getattr(image, "tag_v2", None)',
                'tags = getattr(image, "tag_v2", )',
            )
        ),
        *(
            Equivalent(
                "x__tiff_chunk_bytes",
                f"planar = tags.get({default}) == 2  "
                "# a plane a sample: each strip holds one sample",
                "without the tag, None is no more 2 than the default 1 is",
            )
            for default in ("284, None", "284, ")
        ),
        *(
            Equivalent("x_to_rgb", f'white = Image.new("RGBA", rgba.size, {white})', CLAMPED)
            for white in (
                "(256, 255, 255, 255)",
                "(255, 256, 255, 255)",
                "(255, 255, 256, 255)",
                "(255, 255, 255, 256)",
            )
        ),
        *(
            Equivalent("x_decode_image", f"image.draft({mode}, (min_size, min_size))", DRAFT_MODE)
            for mode in ("None", '"XXRGBXX"', '"rgb"')
        ),
        *(
            Equivalent(
                "x_decode_image",
                f"orientation = _ORIENTATIONS.get(image.getexif().get({default}))",
                "without the tag, None is no more an orientation to apply than the default 1",
            )
            for default in ("0x0112, None", "0x0112, ")
        ),
        Equivalent(
            "x_decode_image",
            "rgb = to_rgb(image) if (factors == (1, 1)) and False else _shrunk_rgb(image, factors)",
            "_shrunk_rgb by (1, 1) converts strip by strip over the whole image's grey range and "
            "reduces nothing: to_rgb's pixels (checked byte for byte in nine modes)",
        ),
        *(
            Equivalent(
                "x_jpeg_frame",
                f"while {condition} and data[position] == 0xFF:",
                "at position + 4 == len(data) the loop can only end with None: a fill byte or "
                "any segment steps past the end, and a scan there is cut off",
            )
            for condition in ("position + 5 <= len(data)", "position + 4 < len(data)")
        ),
        Equivalent(
            "x_jpeg_frame",
            "length = int.from_bytes(data[position + 2 : position + 4], )",
            BIG_ENDIAN,
        ),
        *(
            Equivalent("x_jpeg_frame", f"components = {line}", SHORT_FRAME)
            for line in (
                "segment[5] if (len(segment) > 5) or True else 0",
                "segment[5] if len(segment) >= 5 else 0",
                "segment[5] if len(segment) > 5 else 1",
            )
        ),
        Equivalent(
            "x_jpeg_frame",
            "components = segment[5] if len(segment) > 6 else 0",
            "a frame header of exactly 6 bytes has no sampling factors: it counts 0 blocks, so "
            "its scans are not counted and keeping coefficients adds nothing, whatever its "
            "component count",
        ),
        *(
            Equivalent(
                "x__frame_blocks",
                f"if {condition}:",
                "a frame header of 6 or 7 bytes has no sampling factor (the first is byte 7): "
                "0 blocks either way",
            )
            for condition in ("len(segment) <= 6", "len(segment) < 7")
        ),
        Equivalent(
            "x__frame_blocks",
            "for index in range(7, min(len(segment), 7 + 3 * count), 3)",
            "7 + 3k is below 6 + 3 x count exactly when it is below 7 + 3 x count: the same "
            "indexes",
        ),
        *(
            Equivalent(
                "x__frame_blocks",
                f"most_{axis} = max({axis} for {pair}) or 2",
                f"it is 0 only when every {axis} is 0, and then it divides a product of 0",
            )
            for axis, pair in (("h", "h, _ in factors"), ("v", "_, v in factors"))
        ),
        *(
            Equivalent(
                "x__check_scans",
                f'if data.count(b"\\xff\\xda", {start}) <= allowed:',
                "markers before the first scan only raise the bound; the exact count that "
                "follows a bound over `allowed` decides the same",
            )
            for start in ("None", "")
        ),
        Equivalent(
            "x__check_scans",
            'if data.count(b"\\xff\\xda", frame.end) < allowed:',
            "a bound of exactly `allowed` runs the exact count, which finds at most `allowed` "
            "scans: refused by neither",
        ),
        Equivalent(
            "x__check_scans",
            "position += 2 + int.from_bytes(data[position + 2 : position + 4], )",
            BIG_ENDIAN,
        ),
        Equivalent(
            "x__shrunk_rgb",
            "rows = max(2, STRIP_PIXELS // (width * factor_y)) * factor_y",
            "strips of one or of two rows of reduction boxes: whole boxes either way, the same "
            "pixels",
        ),
        *(
            Equivalent(
                "x__grey_range",
                f"low, high = (float(value) for value in cast({kind}, image.getextrema()))",
                "typing.cast returns its value as it is: the type is for mypy",
            )
            for kind in ("None", '"XXtuple[float, float]XX"', '"TUPLE[FLOAT, FLOAT]"')
        ),
        Equivalent(
            "x__to_8bit_grey",
            "scale = 255.0 / (high - low) if high > low else 1.0",
            "high == low only when every pixel is `low`: (value - low) * scale is 0 for any scale",
        ),
        Equivalent(
            "x__to_8bit_grey",
            'return image.convert("F").point(lambda value: (value - low) * scale).convert(None)',
            "to_rgb converts the float image to RGB next; Pillow goes through L the same way "
            "(identical pixels for 6,000 values from 0 to 255)",
        ),
    ),
    "warmer": (
        *(
            Equivalent(
                "x_invoke_once",
                line,
                "a missing code is only read as `code or status` and against "
                "TooManyRequestsException: None reads as the empty string does",
            )
            for line in ('code = details.get("Code", None)', 'code = details.get("Code", )')
        ),
        Equivalent(
            "x__function_timeout_s",
            "return value if 0 < value < DEFAULT_FUNCTION_TIMEOUT_S "
            "else DEFAULT_FUNCTION_TIMEOUT_S",
            "at the one value where they differ, the longest, both return the longest",
        ),
        Equivalent(
            "x_version_state_client",
            "return lambda_client(endpoint_url, 2, CONNECT_TIMEOUT_S * 2)",
            "the concurrency only sizes the connection pool, at least 10 for 1 or 2",
        ),
        Equivalent(
            "x_classify_answer",
            'answer = ""',
            "None and an empty string are both not a dict: the same two checks refuse them",
        ),
        *(
            Equivalent(
                "x_wait_until_active",
                line,
                "the loop asks Lambda at least once and sets both from its answer before "
                "either is read",
            )
            for line in (
                'state, reason = "XXUnknownXX", ""',
                'state, reason = "unknown", ""',
                'state, reason = "UNKNOWN", ""',
                'state, reason = "Unknown", "XXXX"',
            )
        ),
        Equivalent(
            "x_client_config",
            "max_pool_connections=max(11, concurrency),",
            "10 or 11 connections are both at least the concurrency below 10, and the same above",
        ),
        *(
            Equivalent("x_emf_line", line, "the same JSON document, with spaces after separators")
            for line in (
                "return json.dumps(document, separators=None)",
                "return json.dumps(document, )",
            )
        ),
    ),
    "settings": (
        Equivalent(
            "x_from_pulumi_config",
            "config = pulumi.Config(None)",
            "pulumi.Config() without a name reads the project's own namespace, lukewarm",
        ),
        Equivalent(
            "xǁ_InvalidPartsǁ__init__",
            "super().__init__(None)",
            "the parts are read from `.parts`; the exception's own arguments are never shown",
        ),
        Equivalent(
            "x_load_settings",
            'part_problems = [_problem(f"{name}{where}", v, a) for where, v, a in error.parts]',
            "only warmSchedules has parts: the list is still empty when they are added",
        ),
        Equivalent(
            "x_read_stack_config",
            'document = yaml.safe_load(stack_file.read_text(encoding="UTF-8")) or {}',
            SAME_CODEC,
        ),
        *(
            Equivalent("x_misplaced_keys", line, reason)
            for line, reason in (
                (
                    "if colon and not difflib.get_close_matches(namespace, [PROJECT], cutoff=0.7):",
                    "one possibility: at most one match, whatever n allows",
                ),
                (
                    "if colon and not difflib.get_close_matches(namespace, [PROJECT], n=2, "
                    "cutoff=0.7):",
                    "one possibility: at most one match, whatever n allows",
                ),
                (
                    "nearest = difflib.get_close_matches(name, list(_KEYS), cutoff=0.6)",
                    "only the best match, nearest[0], is read: n only adds others after it",
                ),
                (
                    "nearest = difflib.get_close_matches(name, list(_KEYS), n=2, cutoff=0.6)",
                    "only the best match, nearest[0], is read: n only adds others after it",
                ),
                (
                    "nearest = difflib.get_close_matches(name, list(_KEYS), n=1, )",
                    "0.6 is get_close_matches' default cutoff",
                ),
            )
        ),
        *(
            Equivalent(
                "x__number",
                line,
                "float() reads nan in any case, and refuses other "
                "words with the ValueError the next line turns into the same refusal",
            )
            for line in (
                'value = float(raw) if isinstance(raw, int | float | str) else float("XXnanXX")',
                'value = float(raw) if isinstance(raw, int | float | str) else float("NAN")',
            )
        ),
    ),
}

# What each mutmut verdict counts as. A timeout is neither: mutmut's limits (CPU time from
# its estimate of the tests' duration, and a wall-clock time half of that, after which its
# fork server sends SIGXCPU) are overrun by slow tests on a busy machine, so each timeout is
# settled (`settle`) and the ones that still overrun are reported apart.
KILLED = {"killed", "caught by type check", "segfault"}
SURVIVED = {"survived", "no tests"}
TIMEOUT = "timeout"
SIGKILL = -9
"""mutmut calls a worker killed by SIGKILL a segfault, but RLIMIT_CPU's hard limit, one
second past the soft one that sends SIGXCPU, kills with SIGKILL: that is a timeout too."""
RUNNER_ERROR = "runner error"
RUNNER_ERROR_EXIT = 255
"""mutmut's worker exits 255 when its test runner raises, and mutmut calls that a timeout:
pytest refusing its command line (a test id it cannot find) is one, in a fraction of a
second. Not a verdict: settled like a timeout, and counted apart if it cannot be."""
TO_SETTLE = {TIMEOUT, RUNNER_ERROR}
RECHECKED = {*TO_SETTLE, "survived"}
"""The verdicts this script runs again itself: a survivor too, against all the module's
tests. mutmut runs only the tests its stats run saw reach the mutated function, and a call
made while a test module imports the handler (`route`, at import) is seen only by the first
test that imported it: a `route` mutant survived the 20 tests that were not about HEAD,
and fails the ones that are."""

SETTLE_FACTOR = 5.0
"""A timed-out mutant's tests get this many times their clean run's duration, measured."""
SETTLE_FLOOR_S = 30.0
"""...and at least this long: pytest's start-up alone varies by seconds on a busy machine."""


TIMEOUT_MULTIPLIER = 15.0
"""mutmut's own default: a mutant's tests may take this many times their expected time."""


def stage(name: str, module: Module, fresh: bool, startup_s: float = 1.0) -> Path:
    """The staging folder of one module's run; `fresh` drops an earlier run's results.

    mutmut stops a mutant's tests (a timeout) after (their duration + `timeout_constant`)
    x `timeout_multiplier` seconds of wall-clock time, twice that of CPU time. The duration
    it sums is only each test's call phase: no start-up, no collection, no fixture. The
    handler's tests spend about 2.5 s on those in each forked worker (13 s while every
    session built the tiny model again), against 0.01 s of calls for a mutant of a small
    function: with mutmut's constant of 1 s, the limit was 15 s, and on a busy machine
    every mutant overran it. So the constant is `startup_s`, measured (`startup_seconds`)."""
    folder = STAGING / name
    if fresh:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    for staged, source in LAYOUT.items():
        link = folder / staged
        if not link.is_symlink():
            link.symlink_to(ROOT / source)
    tests = "".join(f'    "{path}",\n' for path in module.tests)
    deselect = ", ".join(f'"--deselect", "{test}"' for test in module.deselect)
    copied = ", ".join(f'"{path}"' for path in LAYOUT if path not in (module.package, "tests"))
    (folder / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        'testpaths = ["tests"]\n'
        'pythonpath = ["."]\n'
        "timeout = 300\n"
        'addopts = "-ra --strict-markers -p no:cacheprovider"\n'
        'filterwarnings = ["ignore::DeprecationWarning:pulumi_aws.*"]\n'
        'markers = ["browser: drives the upload page in headless Chromium"]\n'
        "\n[tool.mutmut]\n"
        f'source_paths = ["{module.package}"]\n'
        f'only_mutate = ["{module.source}"]\n'
        f"also_copy = [{copied}]\n"
        f"pytest_add_cli_args_test_selection = [\n{tests}]\n"
        f"pytest_add_cli_args = [{deselect}]\n"
        f"timeout_constant = {startup_s:.1f}\n"
        f"timeout_multiplier = {TIMEOUT_MULTIPLIER}\n"
        # torch is not fork-safe once it has run: fork workers from a process that has not.
        'process_isolation = "forkserver"\n'
        "use_git_change_detection = false\n"
        # mutants/mutmut-debug.log: each mutant's limits, exit code and duration.
        "log_to_file = true\n",
        encoding="utf-8",
    )
    return folder


TINY_MODEL = STAGING / "tiny-model"
"""The tests' tiny model, built once from the original code and copied by each test session
(`tests/conftest.py`'s `tiny_model_dir`), not built again by every mutant's tests."""


def _build(module: str, function: str, target: Path, *, quiet: bool = False) -> None:
    """Run the tests' own `module.function(target)` in a fresh interpreter on the original
    code, as the tests import it; `quiet` drops its warnings (torch's export) too."""
    code = f"import sys, pathlib; from {module} import {function} as build; "
    code += "build(pathlib.Path(sys.argv[1]))"
    subprocess.run(
        [sys.executable, "-c", code, str(target)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'function'}"},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if quiet else None,
    )


def build_tiny_model() -> Path:
    if not TINY_MODEL.is_dir():
        partial = STAGING / "tiny-model.partial"
        shutil.rmtree(partial, ignore_errors=True)
        _build("tests.conftest", "build_tiny_model", partial)
        partial.rename(TINY_MODEL)
    return TINY_MODEL


HUB_MODELS = STAGING / "hub-models"
"""The Hub tests' two tiny models and their imports, built once from the original code
(`tests/toolkit/test_hub_import.py`'s `hub_models`)."""


def build_hub_models() -> Path:
    """Built where it stays (an import names its source's path), marked done when it is."""
    done = HUB_MODELS / ".built"
    if not done.is_file():
        shutil.rmtree(HUB_MODELS, ignore_errors=True)
        _build("tests.toolkit.test_hub_import", "build_hub_models", HUB_MODELS, quiet=True)
        done.touch()
    return HUB_MODELS


def run_env() -> dict[str, str]:
    """The environment of mutmut and of the settling runs: the staging folder's own import
    path, and the tiny model built once."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env[TINY_MODEL_ENV] = str(TINY_MODEL)
    if (HUB_MODELS / ".built").is_file():
        env[HUB_MODELS_ENV] = str(HUB_MODELS)
    return env


def mutmut(folder: Path, *arguments: str, capture: bool = False) -> str:
    env = run_env()
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", *arguments],
        cwd=folder,
        env=env,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return done.stdout or ""


def startup_seconds(folder: Path, module: Module) -> float:
    """How long a fresh pytest takes to start and collect the module's tests, on the original
    code: more than a forked worker spends before the first test (the fork server has
    imported pytest and the test modules already), so mutmut's limit is not too tight."""
    command = [
        sys.executable, "-m", "pytest", "--rootdir=.", "-q", "-p", "no:randomly",
        "--collect-only", *module.tests,
    ]  # fmt: skip
    code, seconds = run_tests(command, folder, "", None)
    if code != 0:
        raise SystemExit(
            f"the tests of {module.source} do not collect (exit code {code}): "
            f"{' '.join(command)} in {folder}"
        )
    return seconds


# Collects the tests given twice in one process, as mutmut's fork server and then each of its
# workers do, and prints every test id of the second collection that the first did not have.
TWICE = """
import json, sys, pytest
class Ids:
    def __init__(self): self.ids = []
    def pytest_collection_modifyitems(self, items): self.ids.append({i.nodeid for i in items})
ids = Ids()
for _ in range(2):
    if pytest.main(["--rootdir=.", "-qqq", "--collect-only", "-p", "no:randomly", *sys.argv[1:]],
                   plugins=[ids]):
        sys.exit("collection failed")
print(json.dumps(sorted(ids.ids[1] - ids.ids[0])))
"""


def unstable_test_ids(folder: Path, module: Module) -> list[str]:
    """The module's test ids that change when pytest collects a second time in one process
    (`ids=repr` of bytes: pytest escapes the backslashes again). mutmut's workers name the
    tests to run by the ids the first collection gave, and pytest then finds no such test:
    each mutant they cover was a "timeout" in a fraction of a second."""
    done = subprocess.run(
        [sys.executable, "-c", TWICE, *module.tests],
        cwd=folder,
        env=run_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the tests of {module.source} do not collect: {done.stderr.strip()}")
    unstable: list[str] = json.loads(done.stdout.splitlines()[-1])
    return unstable


def mutmut_statuses(folder: Path, module: Module) -> dict[str, str]:
    """Every mutant of the module and mutmut's verdict (`killed`, `survived`, `timeout`...)."""
    meta = folder / "mutants" / (module.source + ".meta")
    if not meta.is_file():
        return {}
    codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    from mutmut.stats import status_by_exit_code

    return {
        mutant: TIMEOUT
        if code == SIGKILL
        else RUNNER_ERROR
        if code == RUNNER_ERROR_EXIT
        else status_by_exit_code[code]
        for mutant, code in codes.items()
    }


def statuses(folder: Path, module: Module) -> dict[str, str]:
    """mutmut's verdicts, with each one run again here (a timeout, a survivor) replaced by
    what its tests did then."""
    settled = load_settled(folder)
    return {
        mutant: settled[mutant].status if status in RECHECKED and mutant in settled else status
        for mutant, status in mutmut_statuses(folder, module).items()
    }


@dataclass(frozen=True)
class Verdict:
    """What a timed-out mutant's tests did when given time enough."""

    status: str
    """`killed` (a test failed), `survived` (all passed) or `timeout` (still over the limit)."""
    seconds: float
    limit_s: float


def load_settled(folder: Path) -> dict[str, Verdict]:
    path = folder / "settled.json"
    if not path.is_file():
        return {}
    return {
        mutant: Verdict(**fields)
        for mutant, fields in json.loads(path.read_text(encoding="utf-8")).items()
    }


def save_settled(folder: Path, verdicts: Mapping[str, Verdict]) -> None:
    document = {mutant: vars(verdict) for mutant, verdict in sorted(verdicts.items())}
    (folder / "settled.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def run_tests(
    command: Sequence[str], cwd: Path, mutant: str, limit_s: float | None
) -> tuple[int | None, float]:
    """Run `command` with `mutant` switched on (`""`: the original code): its exit code, or
    None when it ran past `limit_s` (then it is killed, with any processes it started), and
    the seconds it took."""
    env = run_env()
    env["MUTANT_UNDER_TEST"] = mutant
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        code: int | None = process.wait(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        code = None
    return code, time.perf_counter() - started


def verdict_of(exit_code: int | None) -> str:
    """pytest's exit code on a mutant, as a verdict. 1: a test failed; 2: collection failed
    (the mutant broke an import; the same tests collect on the original); 3: pytest's
    internal error, which mutmut counts as a kill too; 5: no test ran."""
    if exit_code is None:
        return TIMEOUT
    if exit_code == 0:
        return "survived"
    if exit_code == 5:
        return "no tests"
    return "killed"


def settle(
    mutants: Iterable[str],
    tests_of: Callable[[str], tuple[str, ...]],
    command: Callable[[tuple[str, ...]], list[str]],
    cwd: Path,
    *,
    factor: float = SETTLE_FACTOR,
    floor_s: float = SETTLE_FLOOR_S,
    log: Callable[[str], None] = print,
    clean_s: dict[tuple[str, ...], float] | None = None,
) -> dict[str, Verdict]:
    """Run each timed-out mutant's tests again, allowed `factor` times the duration of the
    same tests on the original code (measured here, once per set of tests, so under the
    machine's load of the moment) and at least `floor_s`, until they fail or pass.
    `clean_s` keeps the clean durations across calls."""
    clean_s = {} if clean_s is None else clean_s
    verdicts: dict[str, Verdict] = {}
    for mutant in sorted(mutants):
        tests = tests_of(mutant)
        if tests not in clean_s:
            code, seconds = run_tests(command(tests), cwd, "", None)
            if code != 0:
                raise SystemExit(
                    f"the tests of {mutant} fail on the original code (exit code {code}): "
                    f"{' '.join(command(tests))} in {cwd}"
                )
            clean_s[tests] = seconds
        limit_s = max(factor * clean_s[tests], floor_s)
        code, seconds = run_tests(command(tests), cwd, mutant, limit_s)
        verdicts[mutant] = Verdict(verdict_of(code), round(seconds, 1), round(limit_s, 1))
        log(
            f"  settled {mutant}: {verdicts[mutant].status} after {seconds:.1f} s "
            f"(limit {limit_s:.0f} s, {factor:g}x the clean {clean_s[tests]:.1f} s)"
        )
    return verdicts


def mutant_tests(folder: Path, module: Module) -> Callable[[str], tuple[str, ...]]:
    """The tests mutmut ran for a mutant (those that reach its function), else the module's."""
    stats = folder / "mutants" / "mutmut-stats.json"
    by_function: dict[str, list[str]] = {}
    if stats.is_file():
        by_function = json.loads(stats.read_text(encoding="utf-8"))[
            "tests_by_mangled_function_name"
        ]

    def tests_of(mutant: str) -> tuple[str, ...]:
        return tuple(sorted(by_function.get(mutant.partition("__mutmut_")[0], ()))) or (
            module.tests
        )

    return tests_of


def pytest_command(module: Module) -> Callable[[tuple[str, ...]], list[str]]:
    """pytest as mutmut runs it in `mutants/`, without a per-test time limit."""

    def command(tests: tuple[str, ...]) -> list[str]:
        deselect = [arg for test in module.deselect for arg in ("--deselect", test)]
        return [
            sys.executable, "-m", "pytest", "--rootdir=.", "-x", "-q", "-p", "no:randomly",
            "--timeout=0", *deselect, *tests,
        ]  # fmt: skip

    return command


def mutated_lines(folder: Path, mutant: str) -> list[str]:
    """The lines the mutant adds, stripped; for one that only removes lines (an argument
    left out), those lines as `removed: <line>`."""
    diff = mutmut(folder, "show", mutant, capture=True).splitlines()
    added = [line[1:].strip() for line in diff if line[:1] == "+" and line[:3] != "+++"]
    removed = [line[1:].strip() for line in diff if line[:1] == "-" and line[:3] != "---"]
    return added or [f"removed: {line}" for line in removed]


def equivalent(folder: Path, name: str, mutant: str) -> Equivalent | None:
    function = mutant.rpartition(".")[2].partition("__mutmut_")[0]
    candidates = [e for e in EQUIVALENT.get(name, ()) if e.function == function]
    if not candidates:
        return None
    lines = mutated_lines(folder, mutant)
    return next((e for e in candidates if e.mutated in lines), None)


@dataclass
class Tally:
    killed: int = 0
    survived: int = 0
    timeout: int = 0
    equivalent: int = 0
    unchecked: int = 0

    @property
    def score(self) -> float | None:
        """Killed over killed and survived: timeouts and equivalents count neither way."""
        total = self.killed + self.survived
        return self.killed / total if total else None

    def line(self, label: str) -> str:
        score = "n/a" if self.score is None else f"{self.score:.3f}"
        return (
            f"mutation {label}: killed={self.killed} survived={self.survived} "
            f"timeout={self.timeout} score={score}"
        )

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(getattr(self, name) + getattr(other, name) for name in vars(self)))


def tally(
    verdicts: Mapping[str, str], is_equivalent: Callable[[str], Equivalent | None]
) -> tuple[Tally, list[tuple[str, str, str]]]:
    """Count a module's verdicts (timeouts already settled); list every survivor, timeout
    and equivalent mutant as (verdict, mutant, the equivalent's reason or "")."""
    counts = Tally()
    listed: list[tuple[str, str, str]] = []
    for mutant, status in sorted(verdicts.items()):
        if status in KILLED:
            counts.killed += 1
        elif status in TO_SETTLE:
            counts.timeout += 1
            listed.append((status, mutant, ""))
        elif status in SURVIVED:
            reason = is_equivalent(mutant) if status == "survived" else None
            if reason is not None:
                counts.equivalent += 1
                listed.append(("equivalent", mutant, reason.reason))
            else:
                counts.survived += 1
                listed.append((status, mutant, ""))
        else:  # not checked, skipped, suspicious, interrupted
            counts.unchecked += 1
    return counts, listed


def run(name: str, fresh: bool, workers: int) -> None:
    module = MODULES[name]
    folder = stage(name, module, fresh)
    build_tiny_model()
    if module.hub_models:
        build_hub_models()
    unstable = unstable_test_ids(folder, module)
    if unstable:
        raise SystemExit(
            f"pytest names these tests of {name} differently when it collects them again in "
            "one process, so mutmut's workers would not find them: " + " ".join(unstable)
        )
    startup_s = startup_seconds(folder, module)
    stage(name, module, fresh=False, startup_s=startup_s)
    print(
        f"mutmut's limit for each mutant of {name}: (its tests' duration + {startup_s:.1f} s, "
        f"pytest's start-up measured) x {TIMEOUT_MULTIPLIER:g}",
        flush=True,
    )
    # After an earlier run only what was not killed runs again (against the current tests).
    again = [m for m, status in statuses(folder, module).items() if status not in KILLED]
    mutmut(folder, "run", "--max-children", str(workers), *again)
    # Changed tests can void earlier results that were not run again: run those too.
    unchecked = [
        m for m, status in mutmut_statuses(folder, module).items() if status == "not checked"
    ]
    if unchecked:
        mutmut(folder, "run", "--max-children", str(workers), *unchecked)
    rerun = set(again) | set(unchecked)
    settled = {m: v for m, v in load_settled(folder).items() if m not in rerun}
    timeouts = [
        m
        for m, status in mutmut_statuses(folder, module).items()
        if status in TO_SETTLE and m not in settled
    ]
    if timeouts:
        codes = mutmut_statuses(folder, module)
        errors = sum(codes[m] == RUNNER_ERROR for m in timeouts)
        print(
            f"settling {len(timeouts)} timeouts of {name}"
            + (
                f" ({errors} of them mutmut's runner failing, exit {RUNNER_ERROR_EXIT})"
                if errors
                else ""
            ),
            flush=True,
        )
    verdicts = settle(
        timeouts,
        mutant_tests(folder, module),
        pytest_command(module),
        folder / "mutants",
        log=lambda line: print(line, flush=True),
    )
    settled = {**settled, **verdicts}
    save_settled(folder, settled)
    # Each survivor that is not a listed equivalent, against every test of the module.
    survivors = [
        m
        for m, status in mutmut_statuses(folder, module).items()
        if status == "survived" and m not in settled and equivalent(folder, name, m) is None
    ]
    if survivors:
        print(f"running the {len(survivors)} survivors of {name} against all its tests", flush=True)
    clean_s: dict[tuple[str, ...], float] = {}

    def recheck(mutant: str) -> dict[str, Verdict]:
        return settle(
            [mutant],
            lambda m: module.tests,
            pytest_command(module),
            folder / "mutants",
            log=lambda line: print(line, flush=True),
            clean_s=clean_s,
        )

    # The first measures the clean run; the rest go `workers` at a time, as mutmut's do,
    # each saved as it ends (each takes the whole set, so a run may be stopped between).
    for verdicts in [recheck(survivors[0])] if survivors else []:
        settled.update(verdicts)
        save_settled(folder, settled)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for verdicts in pool.map(recheck, survivors[1:]):
            settled.update(verdicts)
            save_settled(folder, settled)


def report(name: str) -> Tally:
    """The module's line from its last run's results, after every survivor and timeout with
    its mutated lines and every equivalent mutant with its reason."""
    module = MODULES[name]
    folder = STAGING / name
    counts, listed = tally(statuses(folder, module), lambda m: equivalent(folder, name, m))
    print(f"{module.source}:")
    for status, mutant, reason in listed:
        if reason:
            print(f"  {status} {mutant}: {reason}")
        else:
            print(f"  {status} {mutant}:")
            print("    " + "\n    ".join(mutated_lines(folder, mutant)))
    unchecked = f" ({counts.unchecked} not checked)" if counts.unchecked else ""
    print(counts.line(name) + unchecked, flush=True)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", choices=[*MODULES, []], default=[])
    parser.add_argument(
        "--again",
        action="store_true",
        help="keep the last run's results and test only what it did not kill again",
    )
    parser.add_argument("--workers", type=int, default=2, help="mutants tested at once")
    parser.add_argument(
        "--report", action="store_true", help="only report the last run's results, run nothing"
    )
    args = parser.parse_args(argv)
    names = args.modules or list(MODULES)
    if not args.report:
        for name in names:
            run(name, not args.again, args.workers)
    counts = [report(name) for name in names]
    total = sum(counts, Tally())
    print(total.line("all"))
    passed = all(c.score is not None and c.score >= TARGET_SCORE for c in counts)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
