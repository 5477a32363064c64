"""``PROG completion SHELL``: a shell completion script generated from the parsers.

bash and zsh scripts come from shtab (the only module importing it); shtab has no fish
output, so the fish script is written here from the same parser tree. Installing them:

* bash: ``PROG completion bash > ~/.local/share/bash-completion/completions/PROG``
* zsh: ``PROG completion zsh > "${fpath[1]}/_PROG"``
* fish: ``PROG completion fish > ~/.config/fish/completions/PROG.fish``

The Debian package installs all three for ``endorse-peripheral``.
"""

from __future__ import annotations

import argparse
import sys

SHELLS = ("bash", "zsh", "fish")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = "Print a shell completion script for this program on stdout."
    prog = parser.prog.split()[0]
    parser.epilog = (
        "install, e.g.:\n"
        f"  bash: {prog} completion bash > ~/.local/share/bash-completion/completions/{prog}\n"
        f'  zsh:  {prog} completion zsh > "${{fpath[1]}}/_{prog}"\n'
        f"  fish: {prog} completion fish > ~/.config/fish/completions/{prog}.fish"
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    sys.stdout.write(completion_script(parser, args.shell))
    return 0


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for ``parser`` in ``shell``."""
    if shell == "fish":
        return fish_script(parser)
    import shtab

    script: str = shtab.complete(parser, shell=shell)
    return script if script.endswith("\n") else script + "\n"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help_of(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name:
                    return choice.help or ""
    return ""


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _option_lines(prog: str, condition: str, parser: argparse.ArgumentParser) -> list[str]:
    lines = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        words = [f"complete -c {prog} -n {_quote(condition)}"]
        for option in action.option_strings:
            if option.startswith("--"):
                words.append(f"-l {option[2:]}")
            elif len(option) == 2:
                words.append(f"-s {option[1]}")
        if action.nargs != 0:
            words.append("-r")
            if action.choices is not None:
                words.append("-f -a " + _quote(" ".join(str(c) for c in action.choices)))
            else:
                words.append("-F")  # a path or a value: offer files
        if action.help:
            words.append("-d " + _quote(action.help.split("(default")[0].strip()))
        lines.append(" ".join(words))
    return lines


def fish_script(parser: argparse.ArgumentParser) -> str:
    """complete(1) lines for fish: subcommands, then each one's options and choices."""
    prog = parser.prog
    subcommands = _subcommands(parser)
    names = " ".join(subcommands)
    lines = [
        f"# fish completion for {prog}, generated from its parsers ({prog} completion fish)",
        f"complete -c {prog} -f",
        *_option_lines(prog, "__fish_use_subcommand", parser),
    ]
    for name in subcommands:
        help_text = _help_of(parser, name)
        lines.append(
            f"complete -c {prog} -n __fish_use_subcommand -a {name} -d {_quote(help_text)}"
        )
    for name, sub in subcommands.items():
        condition = f"__fish_seen_subcommand_from {name}"
        lines.extend(_option_lines(prog, condition, sub))
        for action in sub._actions:
            if not action.option_strings and action.choices is not None:
                choices = " ".join(str(c) for c in action.choices)
                lines.append(f"complete -c {prog} -n {_quote(condition)} -a {_quote(choices)}")
    if names:
        lines.append(f"# subcommands: {names}")
    return "\n".join(lines) + "\n"
