"""The shared key-binding rules: RFC 7638 thumbprints, RFC 9449 ath, bound nonces."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.tokenlink.key_binding import ec_thumbprint, is_thumbprint, token_hash
from endorse_ble.tokenlink.nonce import (
    BOUND_NONCE_CHARS,
    bound_nonce,
    bound_thumbprint,
    challenge_nonce,
    check_nonce,
    nonce_names_key,
)

# RFC 9449 section 4.1 (figure 4) and section 6.1: the example key and its jkt.
RFC_JWK = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}
RFC_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
thumbprints = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    min_size=43,
    max_size=43,
)


def test_thumbprint_matches_rfc_9449() -> None:
    """The RFC's example key has the RFC's thumbprint; extra members do not change it."""
    assert ec_thumbprint(RFC_JWK) == RFC_JKT
    assert ec_thumbprint({**RFC_JWK, "kid": "x", "use": "sig"}) == RFC_JKT


def test_ath_matches_rfc_9449() -> None:
    """RFC 9449 section 7.1: the example access token's ath."""
    token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    assert token_hash(token) == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


@given(thumbprints)
def test_a_bound_nonce_is_a_valid_challenge_naming_the_key(jkt: str) -> None:
    """Thumbprint + 16 random base64url chars: 59, inside the profile's 8-64, names the key."""
    nonce = bound_nonce(jkt)
    assert len(nonce) == BOUND_NONCE_CHARS == 59
    assert check_nonce(nonce.encode()) == nonce
    assert nonce_names_key(nonce, jkt)
    assert bound_thumbprint(nonce) == jkt
    assert bound_nonce(jkt) != nonce


def test_nonces_without_a_key() -> None:
    """No key: a plain random nonce; short or absent nonces name no key."""
    plain = challenge_nonce(None)
    assert check_nonce(plain) == plain
    assert bound_thumbprint(plain) is None
    assert not nonce_names_key(None, RFC_JKT)
    assert not nonce_names_key(RFC_JKT[:-1], RFC_JKT)
    assert bound_thumbprint(RFC_JKT + "!" * 16) is None


@pytest.mark.parametrize("bad", ["", "a" * 42, "a" * 44, "a" * 42 + "=", 43])
def test_only_43_base64url_chars_are_a_thumbprint(bad: object) -> None:
    """Padding, other lengths and non-strings are refused."""
    assert not is_thumbprint(bad)
    if isinstance(bad, str):
        with pytest.raises(ValueError):
            bound_nonce(bad)
