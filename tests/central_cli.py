"""Helpers for the laptop CLI tests: isolated user dirs, parsed args, token sources."""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable
from pathlib import Path

from endorse_ble.central.credential_flow import FreshToken
from endorse_ble.central.errors import CentralError
from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity


def parse(module_name: str, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv`` with the subcommand module's own configure()."""
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser()
    module.configure(parser)
    return parser.parse_args(argv)


def user_env(home: Path) -> dict[str, str]:
    """An environment whose HOME, XDG dirs and AWS files all live under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "AWS_"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws" / "credentials"),
        AWS_CONFIG_FILE=str(home / "aws" / "config"),
    )
    return env


def signer_source(
    signer: EndorseSigner, sim: SimIdentity | None = None, calls: list[str] | None = None
) -> Callable[[], FreshToken]:
    """A token source minting nonce-bound tokens as the gateway would serve them."""

    def source() -> FreshToken:
        nonce = f"nonce{len(calls or [])}abcdef"
        if calls is not None:
            calls.append(nonce)
        token = signer.mint(sim or SimIdentity(), request_parameters={"nonce": nonce})
        return FreshToken(token, nonce)

    return source


def failing_source(error: CentralError) -> Callable[[], FreshToken]:
    """A token source that fails as the gateway read would."""

    def source() -> FreshToken:
        raise error

    return source
