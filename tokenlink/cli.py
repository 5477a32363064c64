"""A small subcommand dispatcher shared by the four console entry points.

Each subcommand lives in its own module exposing ``configure(parser)`` and
``run(args) -> int``; modules are imported only when their subcommand runs, so
``--help`` and light commands never pay for bleak, bless or boto3 imports.

Extras add dependencies only: every part's modules are installed with any extra, so a
command whose part's libraries are missing is stopped before it starts, in one line that
names the extra to install (exit code 2), never with a traceback half-way through.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Subcommand:
    """A subcommand: its module path, the one-line help shown in the listing, and the
    third-party top-level modules it needs (looked up, not imported, before it runs)."""

    module: str
    help: str
    needs: tuple[str, ...] = ()


#: Exit codes shared by every command (documented in the README).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def missing_extra(prog: str, extra: str, library: str | None) -> int:
    """Say in one line which extra brings the missing library; return the usage code."""
    print(
        f"{prog}: this command needs the [{extra}] extra ({library} is not installed): "
        f"pip install 'endorse-ble[{extra}]'",
        file=sys.stderr,
    )
    return EXIT_USAGE


def first_missing(modules: Sequence[str]) -> str | None:
    """The first of ``modules`` (top-level names) that cannot be found, without importing any."""
    for name in modules:
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except (ImportError, ValueError):  # a broken or spec-less module counts as missing
            return name
    return None


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

    With ``extra``, a chosen subcommand whose ``needs`` are not all installed (the part
    was installed without its extra) is refused up front in one line naming ``extra``,
    with exit code 2, before its options or files are looked at; ``--help`` still works.
    A third-party import that fails later anyway is reported the same way.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = commands.get(_chosen_name(args_list) or "")
    if extra is not None and chosen is not None and not _asks_for_help(args_list):
        missing = first_missing(chosen.needs)
        if missing is not None:
            return missing_extra(prog, extra, missing)
    try:
        return _dispatch(prog, description, commands, args_list, epilog)
    except ModuleNotFoundError as exc:
        if extra is None or _is_our_module(exc.name):
            raise
        return missing_extra(prog, extra, exc.name)


def _chosen_name(args_list: list[str]) -> str | None:
    return next((a for a in args_list if not a.startswith("-")), None)


def _asks_for_help(args_list: list[str]) -> bool:
    return "-h" in args_list or "--help" in args_list


def _dispatch(
    prog: str,
    description: str,
    commands: dict[str, Subcommand],
    args_list: list[str],
    epilog: str | None,
) -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = _chosen_name(args_list)
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
