"""`lukewarm COMMAND ...`: the command line for people.

Each command lives in its own module with `configure(parser)` and `run(args) -> int`.
Modules are imported only when their command runs, so `lukewarm caption` never pays
for torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = {
    "serve": ("lukewarm.serve", "run the function, API and warmer on this machine"),
    "caption": ("lukewarm.caption", "caption images with a deployed or local lukewarm"),
    "probe": ("lukewarm.probe", "measure cold, luke-warm and warm latency over time"),
    "cost": ("lukewarm.cost", "estimate the monthly AWS bill"),
    "report": ("lukewarm.report", "what a deployed or local stack did: cold starts, errors, cost"),
    "convert": ("toolkit.convert", "convert a Show-Attend-Tell checkpoint to a model directory"),
    "export": ("toolkit.export", "export a model directory to ONNX for the function's runtime"),
}


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
    for name, (module_name, summary) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        if name == chosen:
            importlib.import_module(module_name).configure(sub)
    args = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
