"""A small subcommand dispatcher shared by the four console entry points.

Each subcommand lives in its own module exposing ``configure(parser)`` and
``run(args) -> int``; modules are imported only when their subcommand runs, so
``--help`` and light commands never pay for bleak, bless or boto3 imports.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Subcommand:
    """A subcommand: its module path and the one-line help shown in the listing."""

    module: str
    help: str


#: Exit codes shared by every command (documented in the README).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def missing_extra(prog: str, extra: str, exc: ModuleNotFoundError) -> int:
    """Say in one line which extra brings the missing library; return the usage code.

    Extras add dependencies only: every part's modules are installed, but a command whose
    part's libraries are not fails at its first third-party import.
    """
    print(
        f"{prog}: this command needs the [{extra}] extra ({exc.name} is not installed): "
        f"pip install 'endorse-ble[{extra}]'",
        file=sys.stderr,
    )
    return EXIT_USAGE


def _is_our_module(name: str | None) -> bool:
    return name is None or name == "endorse_ble" or name.startswith("endorse_ble.")


def dispatch(
    prog: str,
    description: str,
    commands: dict[str, Subcommand],
    argv: Sequence[str] | None = None,
    epilog: str | None = None,
    extra: str | None = None,
) -> int:
    """Parse ``argv`` and run the chosen subcommand, returning its exit code.

    With ``extra``, a missing third-party library (the part was installed without its
    extra) is reported in one line naming ``extra``, with exit code 2.
    """
    try:
        return _dispatch(prog, description, commands, argv, epilog)
    except ModuleNotFoundError as exc:
        if extra is None or _is_our_module(exc.name):
            raise
        return missing_extra(prog, extra, exc)


def _dispatch(
    prog: str,
    description: str,
    commands: dict[str, Subcommand],
    argv: Sequence[str] | None,
    epilog: str | None,
) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in args_list if not a.startswith("-")), None)
    for name, command in commands.items():
        sp = sub.add_parser(name, help=command.help, description=command.help)
        # Only the chosen subcommand's module is imported, to configure its options.
        if name == wanted:
            module = importlib.import_module(command.module)
            module.configure(sp)
            sp.set_defaults(_run=module.run)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    code: int = args._run(args)
    return code
