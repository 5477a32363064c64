"""Help text shared by ``endorse-central --help`` and the docs."""

from __future__ import annotations

import os

from endorse_ble.central.failures import exit_code_table
from endorse_ble.central.paths import credentials_cache_dir, default_config_path, user_config_dir

# Every subcommand's parser gets the shared formatter from the dispatcher; the name stays
# importable here for the modules that set it explicitly.
from endorse_ble.tokenlink.cli import HelpFormatter as HelpFormatter

MAIN_EPILOG = f"""\
examples:
  endorse-central scan
  endorse-central status
  eval "$(endorse-central credentials)"
  endorse-central credentials --write-profile gw
  endorse-central token | endorse-central inspect
  endorse-central enroll --profile gw

AWS CLI / SDK integration (~/.aws/config):
  [profile gw]
  credential_process = endorse-credential-process --profile gw

files:
  config  {default_config_path()}
  cache   {credentials_cache_dir()}/<profile>.json
  keys    {os.path.join(user_config_dir(), "keys")}/<profile>.pem (when no OS keyring is usable)

exit codes:
{exit_code_table()}

Each command has its own --help; docs/laptop-cli.md has the details."""
