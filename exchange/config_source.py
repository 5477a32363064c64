"""Where an admin command reads the exchange's configuration: a file, or the environment."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from endorse_ble.exchange.config import ExchangeConfig, load_config_file
from endorse_ble.exchange.config_env import config_from_env


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config PATH``; without it the environment is read as the Lambda reads it."""
    parser.add_argument(
        "--config",
        type=Path,
        help="TOML configuration file (default: EXCHANGE_* variables, as on Lambda)",
    )


def load_for(args: argparse.Namespace) -> ExchangeConfig:
    """The configuration ``--config`` names, else the one the environment describes."""
    path: Path | None = args.config
    return load_config_file(path) if path is not None else config_from_env(os.environ)
