"""Torch-side subcommands of `stylecam`: stylecam.realtime.cli forwards argv here, command word first.

Each subcommand lives in its own module exposing ``main(argv) -> int``; it is
imported only when called, so `stylecam keyframe` does not pay for `train`.
"""
from __future__ import annotations

import importlib
import sys
from typing import Sequence

from stylecam.commands import TRAIN_COMMANDS as COMMANDS

from .errors import EXIT_USER


def usage() -> str:
    lines = ["usage: stylecam {" + ",".join(COMMANDS) + "} ...", ""]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``argv[0]`` to its module's ``main(argv[1:])``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stderr if not argv else sys.stdout)
        return EXIT_USER if not argv else 0
    if argv[0] not in COMMANDS:
        print(f"stylecam: error: unknown command {argv[0]!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return EXIT_USER
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
