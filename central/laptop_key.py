"""The laptop's own P-256 key, per profile: created by ``enroll``, kept in the OS keyring
where one is usable, else in a 0600 file in the user config directory.

The private key never leaves this module except to sign a proof (central.key_proof); it is
never printed or logged, and ``repr`` shows only the thumbprint. Headless machines have no
keyring backend (keyring falls back to its ``fail`` backend, or a chainer with nothing to
chain); the file is used there, and a key file anyone else can read is refused.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from endorse_ble.central.atomic_file import atomic_write, make_private_dir
from endorse_ble.central.errors import KeyFailure, LaptopKeyError
from endorse_ble.central.paths import user_config_dir
from endorse_ble.tokenlink.key_binding import PROOF_CURVE, b64url, ec_thumbprint

log = logging.getLogger(__name__)

#: The key used when no ``--profile`` is given.
DEFAULT_KEY_NAME = "default"
KEYS_SUBDIR = "keys"
# A PKCS#8 P-256 PEM is about 240 bytes; a key file larger than this is not ours.
_MAX_PEM_BYTES = 4096


def key_name(profile: str | None) -> str:
    """The key a profile uses (profile names are already validated as file-name safe)."""
    return profile or DEFAULT_KEY_NAME


@dataclass(frozen=True, repr=False)
class LaptopKey:
    """A P-256 private key and what others may know of it: its public JWK and thumbprint."""

    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> LaptopKey:
        """A new random key."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, pem: bytes, where: str) -> LaptopKey:
        """Load a PKCS#8 PEM; LaptopKeyError naming ``where`` if it is not a P-256 key."""
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise LaptopKeyError(KeyFailure.CORRUPT, f"{where}: not a PEM private key") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise LaptopKeyError(KeyFailure.CORRUPT, f"{where}: not a P-256 key")
        return cls(key)

    def to_pem(self) -> bytes:
        """PKCS#8 PEM of the private key (for the keyring or the 0600 file only)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_jwk(self) -> dict[str, str]:
        """The public key as an RFC 7517 JWK (``kty``, ``crv``, ``x``, ``y``)."""
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": PROOF_CURVE,
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }

    @property
    def thumbprint(self) -> str:
        """The RFC 7638 SHA-256 thumbprint (``jkt``) that the admin enrolls."""
        return ec_thumbprint(self.public_jwk())

    def __repr__(self) -> str:
        return f"LaptopKey(jkt={self.thumbprint})"


class KeyVault(Protocol):
    """Where private keys are kept."""

    #: Shown to the user: "the OS keyring (...)" or the key file's directory.
    where: str

    def load(self, name: str) -> bytes | None:
        """The PEM stored under ``name``, or None."""
        ...

    def save(self, name: str, pem: bytes) -> None:
        """Store ``pem`` under ``name``, replacing any earlier key."""
        ...


class FileVault:
    """One PEM file per key, ``<config dir>/keys/<name>.pem``, mode 0600, written atomically."""

    def __init__(self, directory: str | None = None) -> None:
        self.directory = directory or os.path.join(user_config_dir(), KEYS_SUBDIR)
        self.where = self.directory

    def path(self, name: str) -> str:
        """The file of key ``name``."""
        return os.path.join(self.directory, f"{name}.pem")

    def load(self, name: str) -> bytes | None:
        """The key file's PEM; refuses a file that is not a private regular file."""
        path = self.path(name)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LaptopKeyError(KeyFailure.STORAGE, f"{path}: {exc.strerror}") from exc
        if not stat.S_ISREG(info.st_mode):
            raise LaptopKeyError(KeyFailure.EXPOSED, f"{path} is not a regular file")
        if os.name == "posix" and info.st_mode & 0o077:
            raise LaptopKeyError(
                KeyFailure.EXPOSED,
                f"{path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o}): "
                f"run `chmod 600 {path}`",
            )
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise LaptopKeyError(KeyFailure.EXPOSED, f"{path} belongs to another user")
        try:
            with open(path, "rb") as handle:
                return handle.read(_MAX_PEM_BYTES + 1)
        except OSError as exc:
            raise LaptopKeyError(KeyFailure.STORAGE, f"{path}: {exc.strerror}") from exc

    def save(self, name: str, pem: bytes) -> None:
        """Write the key file atomically, 0600, in a 0700 directory."""
        try:
            make_private_dir(self.directory)
            atomic_write(self.path(name), pem, 0o600)
        except OSError as exc:
            raise LaptopKeyError(
                KeyFailure.STORAGE, f"cannot write {self.path(name)}: {exc.strerror or exc}"
            ) from exc


class KeyringFirstVault:
    """The keyring for new keys; a key enrolled into the file (in a session without a
    keyring, e.g. over SSH) is still found there until it is rotated into the keyring."""

    def __init__(self, keyring: KeyVault, files: KeyVault) -> None:
        self._keyring = keyring
        self._files = files
        self.where = keyring.where

    def load(self, name: str) -> bytes | None:
        """The key from the keyring, else from its file."""
        pem = self._keyring.load(name)
        if pem is not None:
            self.where = self._keyring.where
            return pem
        pem = self._files.load(name)
        if pem is not None:
            self.where = self._files.where
        return pem

    def save(self, name: str, pem: bytes) -> None:
        """Store in the keyring."""
        self._keyring.save(name, pem)
        self.where = self._keyring.where


def open_vault() -> KeyVault:
    """The OS keyring (then the key file) when a usable backend exists, else the key file."""
    from endorse_ble.central.keyring_vault import usable_keyring_vault

    keyring = usable_keyring_vault()
    return KeyringFirstVault(keyring, FileVault()) if keyring is not None else FileVault()


def load_key(name: str, vault: KeyVault | None = None) -> LaptopKey | None:
    """The enrolled key ``name``, or None when there is none."""
    vault = vault or open_vault()
    pem = vault.load(name)
    if pem is None:
        return None
    if len(pem) > _MAX_PEM_BYTES:
        raise LaptopKeyError(KeyFailure.CORRUPT, f"{vault.where}: key {name} is not a PEM key")
    return LaptopKey.from_pem(pem, f"{vault.where}: key {name}")


def enroll(name: str, *, rotate: bool, vault: KeyVault | None = None) -> tuple[LaptopKey, bool]:
    """The key ``name``, created if missing or replaced with ``rotate``; (key, created)."""
    vault = vault or open_vault()
    existing = None if rotate else load_key(name, vault)
    if existing is not None:
        return existing, False
    key = LaptopKey.generate()
    vault.save(name, key.to_pem())
    log.info("stored laptop key %s (jkt=%s) in %s", name, key.thumbprint, vault.where)
    return key, True
