"""What lukewarm's separately deployed parts must agree on, written once.

The function's image, the warmer's zip and the version pruner's zip each ship this
package (the image at its task root, the zips beside `handler.py`), and the Pulumi
program, the local stack and the tools import it, so that no value below has a second
copy to drift from. Standard library only, and it imports nothing of the project: it is
the one thing every other part may import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ALIAS = "live"
"""The qualifier the API and the warmer both invoke, so warm-ups warm what users hit."""
ROUTES = ("POST /caption", "GET /", "GET /health")
"""The HTTP API's routes; anything else is the function's 404 or 405."""
CAPTION_ROUTE = "POST /caption"
"""The route that runs the model: the one `lukewarm:auth` protects and the IAM invoke
policy grants."""
PUBLIC_ROUTES = ("GET /", "GET /health")
"""The upload page and the health check stay open under every auth mode, in the deployed
API and the local stack alike. The caption route and `$default` (any other request, which
also runs the function) take the auth."""

CORS_ALLOW_METHODS = ("GET", "POST")
"""The methods the API allows cross-origin when `corsOrigins` names any: the stack
configures API Gateway with them and the local stack answers preflights with them."""
CORS_ALLOW_HEADERS = ("content-type",)
"""The request headers the API allows cross-origin (as `CORS_ALLOW_METHODS`), before what
`lukewarm:auth` adds (`cors_allow_headers`)."""
CORS_MAX_AGE_S = 3600
"""How long a browser may cache a preflight answer (as `CORS_ALLOW_METHODS`)."""


def cors_allow_headers(auth: str) -> tuple[str, ...]:
    """What a browser on another origin may send under `lukewarm:auth` `auth`: the content
    type, and what the auth reads (a bearer token; a SigV4 signature and its headers)."""
    if auth == "jwt":
        return (*CORS_ALLOW_HEADERS, "authorization")
    if auth == "iam":
        return (
            *CORS_ALLOW_HEADERS,
            "authorization",
            "x-amz-date",
            "x-amz-security-token",
            "x-amz-content-sha256",
        )
    return CORS_ALLOW_HEADERS


RUNTIMES = ("onnx", "torch")
"""What the function runs the model with: ONNX Runtime on NumPy (no torch), or torch. The
first is the default."""
RUNTIME_VARIABLE = "LUKEWARM_RUNTIME"
"""The function's environment variable naming its runtime: the stack sets it from
`lukewarm:runtime`, the one place the runtime is chosen."""
HUB_MODEL_FORMAT = "lukewarm-hub/1"
"""`config.json`'s `format` in a model directory `lukewarm import` wrote: the function
serves it on `onnx` only, and the Pulumi program refuses `runtime: torch` with it."""

MAX_IMAGE_BYTES = 4_700_000
"""The largest image the function accepts: base64-encoded (6,266,668 bytes) it leaves 24 KB
of Lambda's 6 MiB invoke payload for the rest of API Gateway's event (headers, request
context). Clients shrink larger images before sending."""
MAX_PIXELS = 40_000_000
"""Largest width x height the function decodes (120 MB as RGB), more than most cameras
produce; a larger declared size is treated as a decompression bomb."""
MAX_SIDE = 65_535
"""Longest side, in pixels (JPEG's and GIF's own maximum): decoders keep whole-row buffers
and Pillow a pointer per row, so a 33.5M x 1 or 1 x 40M image cost hundreds of MB beyond
its pixels."""

MAX_HOLD_MS = 10_000
"""The longest a warm-up may hold its instance."""
MAX_WARM_CONCURRENCY = 50
"""The most instances one warmer run tries to reach."""
DEFAULT_HOLD_MS = 500
"""The hold of a warmer input that names none."""
INIT_CAP_S = 10.0
"""Lambda's cap on an on-demand function's init phase; a longer init is re-run inside the
first invoke, which the function timeout then bounds."""
MAX_KEPT_VERSIONS = 100
"""The most published versions the version pruner may be asked to keep."""

HELPER_ARCHITECTURE = "arm64"
"""The helper Lambdas' (the warmer's, the pruner's) architecture: cheaper per GB-second."""
WARMER_MEMORY_MB = 128
"""The warmer only waits on invokes; the smallest size is plenty. The stack deploys it at
this size and architecture, and `lukewarm cost` prices its runs at the same."""

WARM_UP_KEY = "lukewarm"
"""The warm-up event's only key: API Gateway cannot produce an event that has it."""
WARM_UP_SHAPE = (
    f'a warm-up event is {{"{WARM_UP_KEY}": {{"action": "warm", "hold_ms": <int>}}}} '
    f"with hold_ms from 0 to {MAX_HOLD_MS}"
)


def warm_up_event(hold_ms: int) -> dict[str, Any]:
    """The event the warmer invokes the function's alias with."""
    return {WARM_UP_KEY: {"action": "warm", "hold_ms": hold_ms}}


def is_warm_up(event: object) -> bool:
    """Whether the function was invoked with a warm-up event (valid or not)."""
    return isinstance(event, dict) and WARM_UP_KEY in event


def parse_warm_up(event: dict[str, Any]) -> int:
    """The hold of a warm-up event (`is_warm_up` said it is one), or ValueError saying
    what a warm-up event is."""
    request = event[WARM_UP_KEY]
    hold_ms = request.get("hold_ms", 0) if isinstance(request, dict) else None
    action = request.get("action") if isinstance(request, dict) else None
    if action != "warm" or not isinstance(hold_ms, int) or isinstance(hold_ms, bool):
        raise ValueError(WARM_UP_SHAPE)
    if not 0 <= hold_ms <= MAX_HOLD_MS:
        raise ValueError(WARM_UP_SHAPE)
    return hold_ms


MAX_INSTANCE_ID_CHARS = 128
"""Longer than any instance id the function makes (12 hex digits): a longer one is not an id."""


@dataclass(frozen=True)
class WarmAnswer:
    """What a well-formed answer to a warm-up event says about the instance that gave it."""

    instance: str
    cold_start: bool
    restored: bool = False


def parse_warm_answer(answer: dict[str, Any]) -> WarmAnswer:
    """The instance a function's answer with `"warm": true` names, or ValueError saying what
    is wrong.

    The function's warm-up answer as the warmer counts it. Strict on types (a bool is a JSON
    `true`/`false`, never a string or a number) because the warmer's counts are only as good
    as the answers it counts: a missing id would count as one instance named "None", and
    `"cold_start": "false"` as a cold start. `restored` may be absent (functions built before
    SnapStart do not send it).
    """
    instance = answer.get("instance")
    if instance is None or instance == "":
        raise ValueError("no instance")
    if not isinstance(instance, str):
        raise ValueError(f"instance is a {type(instance).__name__}, not a string")
    if len(instance) > MAX_INSTANCE_ID_CHARS:
        raise ValueError(f"instance is over {MAX_INSTANCE_ID_CHARS} characters")
    flags: dict[str, bool] = {}
    for name, default in (("cold_start", None), ("restored", False)):
        value = answer.get(name, default)
        if value is None:
            raise ValueError(f"{name} is missing")
        if not isinstance(value, bool):
            raise ValueError(f"{name} is a {type(value).__name__}, not true or false")
        flags[name] = value
    return WarmAnswer(instance, flags["cold_start"], flags["restored"])


def warmer_input(concurrency: int, hold_ms: int) -> dict[str, int]:
    """The warmer's event: how many instances to reach, how long each holds its instance.

    Holding only keeps concurrent warm-ups on distinct instances; a lone warm-up has
    nothing to keep apart from, so it does not hold (and is not billed for holding).
    """
    return {"concurrency": concurrency, "hold_ms": hold_ms if concurrency > 1 else 0}


def parse_warmer_input(event: Any) -> tuple[int, int]:
    """`(concurrency, hold_ms)` from the schedule's input, or ValueError saying what is wrong."""
    if not isinstance(event, dict):
        raise ValueError(f"warm event must be an object, got {type(event).__name__}")
    concurrency = event.get("concurrency", 1)
    hold_ms = event.get("hold_ms", DEFAULT_HOLD_MS)
    if not _is_int(concurrency) or not 1 <= concurrency <= MAX_WARM_CONCURRENCY:
        raise ValueError(
            f"concurrency must be an integer from 1 to {MAX_WARM_CONCURRENCY}, got {concurrency!r}"
        )
    if not _is_int(hold_ms) or not 0 <= hold_ms <= MAX_HOLD_MS:
        raise ValueError(f"hold_ms must be an integer from 0 to {MAX_HOLD_MS}, got {hold_ms!r}")
    return concurrency, hold_ms


def prewarm_input(concurrency: int, hold_ms: int, version: str) -> dict[str, Any]:
    """A deploy's pre-warm: the warmer's input naming the version the deploy published, so
    the warmer waits until that version is Active before warming it."""
    return {**warmer_input(concurrency, hold_ms), "version": version}


def parse_prewarm_version(event: Any) -> str | None:
    """The version a deploy's pre-warm names, None for a scheduled run (no "version"), or
    ValueError saying what is wrong."""
    version = event.get("version") if isinstance(event, dict) else None
    if version is None:
        return None
    if not isinstance(version, str) or not version.isdigit():
        raise ValueError(f'version must be a published version number such as "7", got {version!r}')
    return version


def pruner_input(keep: int, live: str) -> dict[str, Any]:
    """The version pruner's event: how many versions to keep, and the version the alias
    points at (always kept), so the pruner needs no right to read the alias."""
    return {"keep": keep, "live": live}


def parse_pruner_input(event: Any) -> tuple[int, str]:
    """`(keep, live)` from the deploy's input, or ValueError saying what is wrong."""
    keep = event.get("keep") if isinstance(event, dict) else None
    live = event.get("live") if isinstance(event, dict) else None
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_KEPT_VERSIONS:
        raise ValueError(
            f'the event must be {{"keep": <int from 1 to {MAX_KEPT_VERSIONS}>,'
            f' "live": "<version>"}}, got {event!r}'
        )
    if not isinstance(live, str) or not (live.isdigit() or live == "$LATEST"):
        raise ValueError(
            f'the event\'s "live" must be the version the alias points at ("7" or "$LATEST"),'
            f" got {live!r}"
        )
    return keep, live


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
