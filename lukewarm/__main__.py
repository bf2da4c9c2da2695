"""`lukewarm COMMAND ...`: the command line for people.

Each command lives in its own module with `configure(parser)` and `run(args) -> int`.
Modules are imported only when their command runs, so `lukewarm caption` never pays
for torch. `make serve` installs no torch at all: a command that needs the torch toolkit
says so, and how to install it, instead of failing on an import.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = {
    "serve": ("lukewarm.serve", "run the function, API and warmer on this machine"),
    "caption": ("lukewarm.caption", "caption images with a deployed or local lukewarm"),
    "probe": ("lukewarm.probe", "measure cold, restored, luke-warm and warm latency over time"),
    "cost": ("lukewarm.cost", "estimate the monthly AWS bill"),
    "report": ("lukewarm.report", "what a deployed or local stack did: cold starts, errors, cost"),
    "preview": ("lukewarm.preview", "show what `pulumi up` would create, offline"),
    "convert": ("toolkit.convert", "convert a Show-Attend-Tell checkpoint to a model directory"),
    "export": ("toolkit.export", "export a model directory to ONNX for the function's runtime"),
    "import": ("lukewarm.hub_import", "import a Hugging Face Hub captioner (ViT-GPT2, BLIP)"),
}

TOOLKIT_LIBRARIES = frozenset({"torch", "torchvision", "onnx", "safetensors", "sacrebleu"})
"""What `make toolkit` adds to `make serve`'s install (requirements-toolkit.txt)."""


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _run(sys.argv[1:] if argv is None else argv)
        finally:
            sys.stdout.flush()  # here, where a closed pipe can still be caught
    except BrokenPipeError:
        # The reader (`| head`) stopped reading: it has what it wanted, which is no failure.
        # Point stdout at nothing, so that Python's own flush at exit does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="lukewarm", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    subparsers = {}
    try:
        for name, (module_name, summary) in COMMANDS.items():
            subparsers[name] = commands.add_parser(name, help=summary, description=summary)
            if name == chosen:
                importlib.import_module(module_name).configure(subparsers[name])
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            # The command's own usage, not the top level's: that is where the flags are.
            subparsers[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
        module = importlib.import_module(COMMANDS[args.command][0])
        return int(module.run(args) or 0)
    except ModuleNotFoundError as error:
        library = (error.name or "").partition(".")[0]
        if library not in TOOLKIT_LIBRARIES:
            raise
        command = chosen or "this command"
        print(
            f"lukewarm {command}: needs the torch toolkit, and {library} is not installed: "
            "run `make toolkit` (or `make test`) first",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
