"""The OS keyring as a key vault: the only laptop module that imports ``keyring``.

keyring picks a backend by priority (macOS Keychain, Windows Credential Locker, Secret
Service, KWallet). Where none is available it returns its ``fail`` backend (every call
raises) or a chainer with no backend to chain, and a ``null`` backend stores nothing;
those are not vaults, so the caller falls back to the key file.
"""

from __future__ import annotations

import keyring
import keyring.backend
import keyring.errors
from keyring.backends import chainer, fail

from endorse_ble.central.errors import KeyFailure, LaptopKeyError

KEYRING_SERVICE = "endorse-ble"


def _usable(backend: keyring.backend.KeyringBackend) -> bool:
    if isinstance(backend, fail.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return bool(backend.backends)
    # The null backend (and anything the user disabled) reports a priority below zero.
    try:
        return float(backend.priority) > 0
    except Exception:  # a backend whose priority check itself fails is not usable
        return False


class KeyringVault:
    """Keys stored as PEM text under service ``endorse-ble``, user ``laptop-key:<name>``."""

    def __init__(self, backend: keyring.backend.KeyringBackend) -> None:
        self._backend = backend
        self.where = f"the OS keyring ({type(backend).__module__}.{type(backend).__name__})"

    @staticmethod
    def _user(name: str) -> str:
        return f"laptop-key:{name}"

    def load(self, name: str) -> bytes | None:
        """The PEM stored under ``name``, or None."""
        try:
            value = self._backend.get_password(KEYRING_SERVICE, self._user(name))
        except keyring.errors.KeyringError as exc:
            raise LaptopKeyError(KeyFailure.STORAGE, f"{self.where}: {exc}") from exc
        return value.encode("ascii", "replace") if value is not None else None

    def save(self, name: str, pem: bytes) -> None:
        """Store ``pem`` (ASCII PEM text) under ``name``."""
        try:
            self._backend.set_password(KEYRING_SERVICE, self._user(name), pem.decode("ascii"))
        except keyring.errors.KeyringError as exc:
            raise LaptopKeyError(KeyFailure.STORAGE, f"{self.where}: {exc}") from exc


def usable_keyring_vault() -> KeyringVault | None:
    """A vault on the configured keyring backend, or None when it cannot store anything."""
    backend = keyring.get_keyring()
    return KeyringVault(backend) if _usable(backend) else None
