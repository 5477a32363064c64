"""The shared dispatcher refuses a subcommand whose libraries are missing, up front."""

from __future__ import annotations

import pytest

from endorse_ble.tokenlink.cli import EXIT_USAGE, Subcommand, dispatch, first_missing

ABSENT = "endorse_ble_test_no_such_library"
# A subcommand module that would fail loudly if it were ever imported.
NEVER_IMPORTED = "endorse_ble_test_no_such_module"


def test_first_missing_finds_the_absent_library_without_importing() -> None:
    assert first_missing(("json", ABSENT, "also_absent")) == ABSENT
    assert first_missing(("json", "argparse")) is None


def test_a_chosen_command_with_a_missing_library_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    commands = {"run": Subcommand(NEVER_IMPORTED, "run it", ("json", ABSENT))}
    code = dispatch("prog", "", commands, ["run", "--config", "/nonexistent"], extra="part")
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert err == (
        f"prog: this command needs the [part] extra ({ABSENT} is not installed): "
        "pip install 'endorse-ble[part]'\n"
    )


def test_top_level_help_does_not_look_for_libraries(capsys: pytest.CaptureFixture[str]) -> None:
    commands = {"run": Subcommand(NEVER_IMPORTED, "run it", (ABSENT,))}
    with pytest.raises(SystemExit) as exited:
        dispatch("prog", "", commands, ["--help"], extra="part")
    assert exited.value.code == 0
    assert "run it" in capsys.readouterr().out
