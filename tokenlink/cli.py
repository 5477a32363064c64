"""A small subcommand dispatcher shared by the four console entry points.

Each subcommand lives in its own module exposing ``configure(parser)`` and
``run(args) -> int``; modules are imported only when their subcommand runs, so
``--help`` and light commands never pay for bleak, bless or boto3 imports.

Extras add dependencies only: every part's modules are installed with any extra, so a
command whose part's libraries are missing is stopped before it starts, in one line that
names the extra to install (exit code 2), never with a traceback half-way through.

What every command gets from here, so that a new subcommand needs nothing of its own:
``--version`` (on the program and on each subcommand), a ``completion SHELL`` subcommand
printing bash, zsh or fish completion generated from the parsers, help text without reST
markup that wraps at words (never inside ``--write-profile``), and a quiet end when
stdout is closed early (``... --json | head``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import re
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from endorse_ble import __version__


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
#: Stdout was closed before we finished writing (a reader such as ``head`` quit): what
#: a C tool killed by SIGPIPE reports to its shell.
EXIT_BROKEN_PIPE = 128 + 13

#: The subcommand every program has; its module needs the whole parser tree.
COMPLETION = "completion"
_COMPLETION_COMMAND = Subcommand(
    "endorse_ble.tokenlink.completion", "print a bash, zsh or fish completion script"
)

# ``endorse-central`` / :class:`Foo` / :func:`~a.b.c` as plain text.
_REST_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_REST_LITERAL = re.compile(r"``([^`]+)``")


def plain_text(text: str) -> str:
    """``text`` (a docstring) without reST markup, for a terminal."""
    text = _REST_ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return _REST_LITERAL.sub(r"\1", text)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the layout of examples and tables, wraps long prose lines at spaces only.

    argparse's own wrapping breaks at hyphens, which cuts option names in two
    (``--write-`` / ``profile``).
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.splitlines():
            if len(indent + line) > width and not line.startswith(" "):
                lines.append(
                    textwrap.fill(
                        line,
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                        break_on_hyphens=False,
                        break_long_words=False,
                    )
                )
            else:
                lines.append(indent + line)
        return "\n".join(lines)

    def _split_lines(self, text: str, width: int) -> list[str]:
        text = " ".join(text.split())
        return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)


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
    with exit code 2, before its options or files are looked at; ``--help`` and
    ``--version`` still work. A third-party import that fails later anyway is reported
    the same way.
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
    except BrokenPipeError:
        return quiet_broken_pipe()


def _chosen_name(args_list: list[str]) -> str | None:
    return next((a for a in args_list if not a.startswith("-")), None)


def _asks_for_help(args_list: list[str]) -> bool:
    return any(a in ("-h", "--help", "--version") for a in args_list)


def quiet_broken_pipe() -> int:
    """Stdout's reader went away: end without a traceback, and without a second error
    when Python flushes stdout at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def build_parser(
    prog: str,
    description: str,
    commands: dict[str, Subcommand],
    epilog: str | None = None,
    configure: str | None = None,
) -> argparse.ArgumentParser:
    """The program's parser; subcommand ``configure`` gets its options (``"*"``: all).

    Only configured subcommands import their module. A subcommand whose module needs a
    library that is not installed is left without options when configuring all.
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description=plain_text(description),
        epilog=epilog and plain_text(epilog),
        formatter_class=HelpFormatter,
    )
    _add_version(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in {**commands, COMPLETION: _COMPLETION_COMMAND}.items():
        sp = sub.add_parser(
            name, help=command.help, description=command.help, formatter_class=HelpFormatter
        )
        if configure not in (name, "*"):
            continue
        try:
            module = importlib.import_module(command.module)
        except ModuleNotFoundError as exc:
            if configure != "*" or _is_our_module(exc.name):
                raise
            continue
        module.configure(sp)
        _add_version(sp)
        sp.description = sp.description and plain_text(sp.description)
        sp.epilog = sp.epilog and plain_text(sp.epilog)
        sp.set_defaults(_run=module.run)
    return parser


def _add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s (endorse-ble) {__version__}"
    )


def _dispatch(
    prog: str,
    description: str,
    commands: dict[str, Subcommand],
    args_list: list[str],
    epilog: str | None,
) -> int:
    wanted = _chosen_name(args_list)
    # Completion describes every subcommand: configure them all for it.
    configure = "*" if wanted == COMPLETION else wanted
    parser = build_parser(prog, description, commands, epilog, configure)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command == COMPLETION:
        args.parser = parser
    code: int = args._run(args)
    return code
