"""The OS keyring as a key vault: the only laptop module that imports ``keyring``.

keyring picks a backend by priority (macOS Keychain, Windows Credential Locker, Secret
Service, KWallet). Where none is available it returns its ``fail`` backend (every call
raises) or a chainer with no backend to chain, and a ``null`` backend stores nothing;
those are not vaults, so the caller falls back to the key file.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Protocol, TypeVar

import keyring
import keyring.errors
from keyring.backends import chainer, fail

from endorse_ble.central.errors import KeyFailure, LaptopKeyError

KEYRING_SERVICE = "endorse-ble"
#: A keyring may wait for the user to unlock it; a call that takes longer is abandoned
#: (its thread is left to finish or die with the process), not awaited.
KEYRING_TIMEOUT_SECONDS = 60.0

T = TypeVar("T")


def _within_deadline(call: Callable[[], T], where: str, timeout: float) -> T:
    answers: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=1)

    def run() -> None:
        try:
            answers.put((True, call()))
        except BaseException as exc:  # handed to the caller, who decides
            answers.put((False, exc))

    threading.Thread(target=run, name="keyring", daemon=True).start()
    try:
        ok, value = answers.get(timeout=timeout)
    except queue.Empty:
        raise LaptopKeyError(
            KeyFailure.STORAGE, f"{where} did not answer within {timeout:g} s (locked?)"
        ) from None
    if not ok:
        assert isinstance(value, BaseException)
        if isinstance(value, keyring.errors.KeyringError):
            raise LaptopKeyError(KeyFailure.STORAGE, f"{where}: {value}") from value
        raise value
    return value  # type: ignore[return-value]  # what call() returned


class PasswordStore(Protocol):
    """What the vault needs of a keyring backend."""

    def get_password(self, service: str, username: str) -> str | None: ...

    def set_password(self, service: str, username: str, password: str) -> None: ...


def _usable(backend: object) -> bool:
    if isinstance(backend, fail.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return bool(backend.backends)
    # The null backend (and anything the user disabled) reports a priority below zero.
    try:
        return float(getattr(backend, "priority", 0)) > 0
    except Exception:  # a backend whose priority check itself fails is not usable
        return False


class KeyringVault:
    """Keys stored as PEM text under service ``endorse-ble``, user ``laptop-key:<name>``."""

    def __init__(self, backend: PasswordStore, timeout: float = KEYRING_TIMEOUT_SECONDS) -> None:
        self._backend = backend
        self._timeout = timeout
        self.where = f"the OS keyring ({type(backend).__module__}.{type(backend).__name__})"

    @staticmethod
    def _user(name: str) -> str:
        return f"laptop-key:{name}"

    def load(self, name: str) -> bytes | None:
        """The PEM stored under ``name``, or None."""
        user = self._user(name)
        value = _within_deadline(
            lambda: self._backend.get_password(KEYRING_SERVICE, user), self.where, self._timeout
        )
        return value.encode("ascii", "replace") if value is not None else None

    def save(self, name: str, pem: bytes) -> None:
        """Store ``pem`` (ASCII PEM text) under ``name``."""
        user, text = self._user(name), pem.decode("ascii")
        _within_deadline(
            lambda: self._backend.set_password(KEYRING_SERVICE, user, text),
            self.where,
            self._timeout,
        )


def usable_keyring_vault() -> KeyringVault | None:
    """A vault on the configured keyring backend, or None when it cannot store anything."""
    backend = keyring.get_keyring()
    return KeyringVault(backend) if _usable(backend) else None
