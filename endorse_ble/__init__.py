"""endorse-ble: a cellular gateway's SIM as a BLE hardware token for AWS credentials.

One import namespace for every part. In a wheel the parts are installed as subpackages of
this folder; in a source checkout they stay top-level folders (``peripheral/``,
``central/``, ...) that setuptools' ``package-dir`` maps here, and the links in this folder
let the checkout import them under the same names without an import hook (the cached
``credential_process`` path must start as fast as Python itself).

Nothing is imported here: every command imports only what it runs.
"""

__version__ = "0.1.0"
