"""`lukewarm serve`: the function, its API and its warmer on this machine, without AWS.

Defaults come from the same stack config as the deployed stack (`Pulumi.yaml`, and
`Pulumi.<stack>.yaml` with `--stack`); flags override them.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import math
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from contract import RUNTIMES
from infra import settings as stack_settings
from lukewarm.checkout import FUNCTION_DIR, ROOT
from lukewarm.localstack.logs import LOG_FORMATS
from lukewarm.localstack.stack import LocalStack, StackOptions

if TYPE_CHECKING:
    from lukewarm.localstack.auth import Authorizer

DEFAULT_LOG_FILE = ROOT / ".lukewarm" / "logs.jsonl"
"""Where the stack keeps its log events unless told otherwise (`lukewarm report --local`)."""
DEFAULT_MAX_INSTANCES = 5
"""Instances at once when the stack reserves no concurrency: AWS's cap is then the account's
unreserved pool, which this machine could not run anyway."""


def default_max_instances(reserved_concurrency: int) -> int:
    """The most instances at once: the stack's reservation if it has one, else our own cap."""
    return reserved_concurrency or DEFAULT_MAX_INSTANCES


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", metavar="ADDRESS", help="address to listen on"
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=8080,
        metavar="N",
        help="port to listen on (0-65535); 0 picks a free one",
    )
    parser.add_argument("--stack", metavar="NAME", help="read Pulumi.<NAME>.yaml over the defaults")
    parser.add_argument(
        "--model-dir",
        type=Path,
        metavar="DIR",
        help="model directory (default: the stack's modelDir)",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        help="what the function runs the model with (default: the stack's runtime)",
    )
    parser.add_argument(
        "--max-instances",
        type=positive_int,
        metavar="N",
        help=(
            "most instances at once, then 429 (default: reservedConcurrency, "
            f"or {DEFAULT_MAX_INSTANCES} without a reservation)"
        ),
    )
    parser.add_argument(
        "--idle-timeout",
        type=positive_float,
        metavar="SECONDS",
        default=600.0,
        help="seconds an idle instance lives before it is reclaimed (default 600)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        metavar="SECONDS",
        help="function timeout in seconds (default: the stack's)",
    )
    parser.add_argument("--no-warmer", action="store_true", help="do not run the warm schedules")
    parser.add_argument(
        "--function-logs",
        action="store_true",
        help="also print what the function logs (its CloudWatch stream), prefixed by instance",
    )
    parser.add_argument(
        "--warm-hold-ms",
        type=non_negative_int,
        metavar="MS",
        help="how long each warm invoke holds its instance (default: warmHoldMs)",
    )
    parser.add_argument(
        "--time-scale",
        type=positive_float,
        metavar="X",
        default=1.0,
        help="run the stack's clock (warm schedules, idle timeout) this many times faster",
    )
    parser.add_argument(
        "--log-level",
        choices=stack_settings.LOG_LEVELS,
        type=str.upper,
        help="the function's application log level (default: the stack's logLevel)",
    )
    parser.add_argument(
        "--snapstart",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start new instances from one snapshot, as SnapStart does (default: snapStart)",
    )
    parser.add_argument(
        "--auth",
        choices=stack_settings.AUTH_MODES,
        type=str.lower,
        help=(
            "who may call POST /caption: none, iam (SigV4 with credentials printed at start) or "
            "jwt (needs --jwks) (default: the stack's auth)"
        ),
    )
    parser.add_argument(
        "--jwks",
        type=Path,
        metavar="FILE",
        help="with --auth jwt: the issuer's JSON Web Key Set (what its jwks_uri serves)",
    )
    parser.add_argument(
        "--issuer",
        metavar="URL",
        help="with --auth jwt: the iss a token must have (default: the stack's jwtIssuer)",
    )
    parser.add_argument(
        "--audience",
        metavar="AUD",
        help="with --auth jwt: the aud (or client_id) a token must have (default: jwtAudience)",
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        metavar="PATH",
        default=DEFAULT_LOG_FILE,
        help="append the function's and the warmer's log events, Lambda's platform lines "
        "included, to this file, as CloudWatch Logs keeps them (default: %(default)s)",
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=LOG_FORMATS[0],
        help="Lambda's log format for the platform lines (default: JSON, as deployed)",
    )
    parser.add_argument(
        "--cors-origins",
        metavar="ORIGINS",
        help=(
            "comma-separated origins whose browsers may call the API, or * for any "
            "(default: the stack's corsOrigins)"
        ),
    )
    parser.add_argument(
        "--task-root",
        type=Path,
        metavar="DIR",
        help="serve the app.handler of another function directory (default: function/)",
    )


FLAG_KEYS = {
    "timeout": "timeout",
    "warm_hold_ms": "warmHoldMs",
    "runtime": "runtime",
    "snapstart": "snapStart",
    "log_level": "logLevel",
}
"""The flags that override a stack key, each checked as `pulumi up` checks that key."""


def port_number(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {key: getattr(args, flag) for flag, key in FLAG_KEYS.items()}
    if args.timeout is not None:
        # The key is whole seconds; locally a fraction is allowed (tests time out fast), and
        # is checked as the whole second above it.
        overrides["timeout"] = math.ceil(args.timeout)
    try:
        settings = stack_settings.stack_settings(args.stack, overrides=overrides)
    except stack_settings.SettingsError as error:
        flags = [
            f"--{flag.replace('_', '-')}" for flag in FLAG_KEYS if getattr(args, flag) is not None
        ]
        given = f" (given by {', '.join(flags)})" if flags else ""
        print(f"lukewarm serve: {error}{given}", file=sys.stderr)
        return 2
    cors_origins = settings.cors_origins
    if args.cors_origins is not None:
        origins = [origin.strip() for origin in args.cors_origins.split(",") if origin.strip()]
        try:
            cors_origins = stack_settings.load_settings({"corsOrigins": origins}).cors_origins
        except stack_settings.SettingsError as error:
            print(f"lukewarm serve: --cors-origins: {error}", file=sys.stderr)
            return 2
    task_root = args.task_root or FUNCTION_DIR
    model_dir = args.model_dir or (FUNCTION_DIR / settings.model_dir)
    runtime = args.runtime or settings.runtime
    problem = function_problem(task_root, model_dir, runtime, own_task_root=args.task_root)
    if problem:
        print(f"lukewarm serve: {problem}", file=sys.stderr)
        return 2
    try:
        authorizer, auth_lines = build_authorizer(args, settings)
    except ValueError as error:
        print(f"lukewarm serve: {error}", file=sys.stderr)
        return 2
    options = StackOptions(
        host=args.host,
        port=args.port,
        task_root=task_root,
        model_dir=model_dir,
        runtime=runtime,
        max_instances=args.max_instances or default_max_instances(settings.reserved_concurrency),
        idle_timeout_s=args.idle_timeout,
        timeout_s=args.timeout or settings.timeout,
        memory_size=settings.memory_size,
        warm_schedules=() if args.no_warmer else settings.warm_schedules,
        warm_hold_ms=settings.warm_hold_ms if args.warm_hold_ms is None else args.warm_hold_ms,
        prewarm=settings.prewarm_on_deploy,
        time_scale=args.time_scale,
        snapstart=settings.snap_start if args.snapstart is None else args.snapstart,
        log_level=args.log_level or settings.log_level,
        authorizer=authorizer,
        log_file=args.log_file,
        log_format=args.log_format,
        cors_origins=cors_origins,
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    if not args.function_logs:
        logging.getLogger("lukewarm.function").setLevel(logging.WARNING)
    return _start(options, auth_lines)


def build_authorizer(
    args: argparse.Namespace, settings: stack_settings.Settings
) -> tuple[Authorizer | None, list[str]]:
    """The authorizer `--auth` (or the stack's `auth`) asks for, and what to print about it.

    Raises ValueError saying what is missing or unreadable.
    """
    mode = args.auth or settings.auth
    if mode != "jwt":
        for flag in ("jwks", "issuer", "audience"):
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag} is used only with --auth jwt (auth is {mode})")
    if mode == "none":
        return None, []
    # Imported only here: a stack without auth never pays for botocore's signer or PyJWT.
    from lukewarm.localstack.auth import (
        AuthSetupError,
        IamAuthorizer,
        JwtAuthorizer,
        LocalCredentials,
    )
    from lukewarm.localstack.stack import REGION

    if mode == "iam":
        credentials = LocalCredentials.generate()
        return IamAuthorizer(credentials, REGION), [
            f"lukewarm: auth iam: POST /caption needs a SigV4 signature (service execute-api, "
            f"region {REGION}) by this stack's own credentials, new at every start:",
            f"lukewarm:   AWS_ACCESS_KEY_ID={credentials.access_key_id}",
            f"lukewarm:   AWS_SECRET_ACCESS_KEY={credentials.secret_access_key}",
            f"lukewarm:   AWS_DEFAULT_REGION={REGION}",
        ]
    issuer = args.issuer or settings.jwt_issuer
    audience = args.audience or settings.jwt_audience
    missing = [
        flag
        for flag, value in (("--jwks FILE", args.jwks), ("--issuer URL", issuer),
                            ("--audience AUD", audience))
        if not value
    ]  # fmt: skip
    if missing or not (issuer and audience):
        raise ValueError(
            f"--auth jwt needs {', '.join(missing)} (issuer and audience default to the "
            "stack's jwtIssuer and jwtAudience; the key set is what the issuer's jwks_uri serves)"
        )
    try:
        authorizer = JwtAuthorizer.from_file(args.jwks, issuer, audience)
    except AuthSetupError as error:
        raise ValueError(str(error)) from None
    return authorizer, [
        f"lukewarm: auth jwt: POST /caption needs a bearer token from {issuer} for {audience}, "
        f"signed by a key in {args.jwks}"
    ]


def function_problem(
    task_root: Path, model_dir: Path, runtime: str, own_task_root: Path | None
) -> str | None:
    """Why the function at `task_root` could not serve `model_dir`, or None. A task root of
    one's own (`--task-root`, a test's fake function) brings its own model, if any."""
    if not task_root.joinpath("app.py").is_file():
        return f"no app.py in {task_root}"
    if own_task_root is not None:
        return None
    if not model_dir.is_dir():
        return (
            f"no model directory {model_dir} "
            "(train the demo model with `make demo-model`, or pass --model-dir)"
        )
    return model_dir_problem(model_dir, runtime)


def _start(options: StackOptions, auth_lines: list[str]) -> int:
    """Open the stack's log file (a clear refusal if it cannot be written) and serve."""
    try:
        stack = LocalStack(options)
    except OSError as error:
        print(
            f"lukewarm serve: cannot write the log file {options.log_file}: {error}",
            file=sys.stderr,
        )
        return 2
    return asyncio.run(serve(stack, auth_lines))


def model_dir_problem(model_dir: Path, runtime: str) -> str | None:
    """Why the function could not load `model_dir` with `runtime`, found before the stack
    says it is serving (the image build's check, not a load): else every request would be
    a 500 whose cause only the function's log shows."""
    from captioner import ModelFormatError
    from captioner.config import read_config
    from captioner.exported import check_export
    from captioner.hub_config import is_hub_model, read_hub_config
    from captioner.loader import hub_torch_refusal

    hub = is_hub_model(model_dir)
    if hub and runtime == "torch":
        return hub_torch_refusal(model_dir)
    try:
        read_hub_config(model_dir) if hub else read_config(model_dir)
        if runtime == "onnx":
            check_export(model_dir)
    except ModelFormatError as error:
        return f"{model_dir} is not a model directory lukewarm can serve: {error}"
    if runtime == "torch" and importlib.util.find_spec("torch") is None:
        return "runtime torch needs the torch toolkit, which is not installed: run `make toolkit`"
    return None


async def serve(stack: LocalStack, auth_lines: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM, then stop every instance before returning."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        url = await stack.start()
    except OSError as error:
        options = stack.options
        print(
            f"lukewarm serve: cannot listen on {options.host}:{options.port}: {error}",
            file=sys.stderr,
        )
        await stack.stop()
        return 1
    options = stack.options
    schedules = ", ".join(
        f"{schedule.schedule} x{schedule.concurrency}" for schedule in options.warm_schedules
    )
    clock = f", clock x{options.time_scale:g}" if options.time_scale != 1 else ""
    snapstart = ", SnapStart (instances restored from a snapshot)" if options.snapstart else ""
    print(f"lukewarm: upload page {url}", flush=True)
    print(f"lukewarm: Lambda invoke endpoint {stack.invoke_url}", flush=True)
    for line in auth_lines or []:
        print(line, flush=True)
    if options.log_file is not None:
        print(f"lukewarm: log events in {options.log_file}", flush=True)
    if options.runtime is not None:
        print(f"lukewarm: runtime {options.runtime}", flush=True)
    print(
        f"lukewarm: up to {options.max_instances} instances, idle timeout "
        f"{options.idle_timeout_s:g} s, function timeout {options.timeout_s:g} s, "
        f"warming: {schedules or 'off'}{clock}{snapstart}",
        flush=True,
    )
    try:
        await stopping.wait()
    finally:
        print("lukewarm: stopping", flush=True)
        await stack.stop()
    return 0
