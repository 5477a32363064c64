"""Signer keys: PEM SPKI or certificate, RSA only, 2048 bits at least (byte-literal keys)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.tokenlink.rsa_key import (
    MIN_RSA_BITS,
    KeyLoadError,
    KeyRefusal,
    load_rsa_public_key,
)

RSA_2048_PEM = (
    b"-----BEGIN PUBLIC KEY-----\n"
    b"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA8VgJ9IdvOBxTrz+SUL7h\n"
    b"iWiDJWd7+arL5VC9iKzT81X1nJFLZ8kbDmE5H22Ja7J8fOy4F/0HD8Im8+E+pQog\n"
    b"B5DBkGJI1Q8F1ERbSFGrwuCiZIVjxa8Hqk7meiXfeNphtxr0EaAhAjqyKQIBj8AQ\n"
    b"Cs8XPTqlLGm/POs4izSpI3OsR/uvoxXIOBQrx/TTjfjgjRZJLD7rTZDUO6paFVC0\n"
    b"V+vZuLLAOT39VFxnnEbaBfU2lkURonBx6LjpcNyZIuabMZ1YD1Fr0QV2fupyJfNm\n"
    b"lwo+ND/UJch9e4MQcHlfSqP2GKRevGIbt5uE9SSxm1OMMmVUV4OjAsjezR9daQDZ\n"
    b"6wIDAQAB\n"
    b"-----END PUBLIC KEY-----\n"
)
RSA_2048_CERT = (
    b"-----BEGIN CERTIFICATE-----\n"
    b"MIICrzCCAZegAwIBAgIBATANBgkqhkiG9w0BAQsFADAbMRkwFwYDVQQDDBBlbmRv\n"
    b"cnNlLWJsZSB0ZXN0MB4XDTI0MDEwMTAwMDAwMFoXDTMzMTIyOTAwMDAwMFowGzEZ\n"
    b"MBcGA1UEAwwQZW5kb3JzZS1ibGUgdGVzdDCCASIwDQYJKoZIhvcNAQEBBQADggEP\n"
    b"ADCCAQoCggEBAPFYCfSHbzgcU68/klC+4YlogyVne/mqy+VQvYis0/NV9ZyRS2fJ\n"
    b"Gw5hOR9tiWuyfHzsuBf9Bw/CJvPhPqUKIAeQwZBiSNUPBdREW0hRq8LgomSFY8Wv\n"
    b"B6pO5nol33jaYbca9BGgIQI6sikCAY/AEArPFz06pSxpvzzrOIs0qSNzrEf7r6MV\n"
    b"yDgUK8f004344I0WSSw+602Q1DuqWhVQtFfr2biywDk9/VRcZ5xG2gX1NpZFEaJw\n"
    b"cei46XDcmSLmmzGdWA9Ra9EFdn7qciXzZpcKPjQ/1CXIfXuDEHB5X0qj9hikXrxi\n"
    b"G7ebhPUksZtTjDJlVFeDowLI3s0fXWkA2esCAwEAATANBgkqhkiG9w0BAQsFAAOC\n"
    b"AQEAvJzr/tragQb2EBUFW5uJ+8hmBYG8G2Iu+C+7NCSbuElUTfQu1SPv7+6HZwRi\n"
    b"ozXoajwXYhsct+y8KYX+kRFn11ijYor3aPq5vgiXf79K1d/IvD3UVP9emWsDXWn0\n"
    b"nBjhViuyny/f1AHeH6F+wkRDly3aIiwtG7fJ7EtNxJJz14/6G2iQk5sX573+/aNk\n"
    b"F2WunmcJSKANlQSxYKCj9CTM9L6FIeOF2J19+czVqnodrrRHLcZNF9/tKPJS1VGF\n"
    b"0YgJIy6l4CtpFbmVv4G8ylWMCYL3+g2gLMVpuhvPORLTvDm4J3CFl1OYK9nTV2sV\n"
    b"BZuXUl3x4RER7AEWY5InGn7oqQ==\n"
    b"-----END CERTIFICATE-----\n"
)
RSA_1024_PEM = (
    b"-----BEGIN PUBLIC KEY-----\n"
    b"MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCmC72x55XBvIiwAQe7QFHotJ3X\n"
    b"8dGlRONBdFH89W0s4fn8s/E/yz1ZUoqEf1uV8uO+/WNSFR4gyrr3J35W4CisO/SX\n"
    b"6FgmiDMK/Wvv9xclicNPxvGKBiVMfjye4ldZGBI+fneS3ULSBlSrDQvlY6s6XE0k\n"
    b"Jz5Ke9Un6bab7sO/KQIDAQAB\n"
    b"-----END PUBLIC KEY-----\n"
)
EC_P256_PEM = (
    b"-----BEGIN PUBLIC KEY-----\n"
    b"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWWiZj+rRgyOAGGU1zvk3QDn/HZtD\n"
    b"Uah5fgrtoYD5GBqwtOgJO45FrDn/hPTJT3joUm7tmIn/JQp5UWzIlb/Zmg==\n"
    b"-----END PUBLIC KEY-----\n"
)


def test_reads_a_public_key_and_the_same_key_from_a_certificate() -> None:
    key = load_rsa_public_key(RSA_2048_PEM)
    assert key.key_size == 2048
    assert load_rsa_public_key(RSA_2048_CERT).public_numbers() == key.public_numbers()


def test_a_caller_may_raise_the_floor_but_not_lower_it() -> None:
    with pytest.raises(KeyLoadError) as caught:
        load_rsa_public_key(RSA_2048_PEM, min_bits=3072)
    assert caught.value.reason is KeyRefusal.TOO_SMALL
    with pytest.raises(KeyLoadError) as caught:
        load_rsa_public_key(RSA_1024_PEM, min_bits=1024)
    assert caught.value.reason is KeyRefusal.TOO_SMALL
    assert MIN_RSA_BITS == 2048


@pytest.mark.parametrize(
    ("pem", "reason"),
    [
        (b"not a pem", KeyRefusal.NOT_PEM),
        (b"", KeyRefusal.NOT_PEM),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", KeyRefusal.NOT_PEM),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", KeyRefusal.NOT_PEM),
        (RSA_2048_PEM[:-40], KeyRefusal.NOT_PEM),
        (EC_P256_PEM, KeyRefusal.NOT_RSA),
        (RSA_1024_PEM, KeyRefusal.TOO_SMALL),
    ],
    ids=["text", "empty", "bad-spki", "bad-certificate", "truncated", "ec-key", "rsa-1024"],
)
def test_refuses_what_is_not_a_strong_rsa_key(pem: bytes, reason: KeyRefusal) -> None:
    with pytest.raises(KeyLoadError) as caught:
        load_rsa_public_key(pem)
    assert caught.value.reason is reason


@given(st.binary(max_size=600))
def test_any_bytes_give_a_key_or_a_typed_refusal(data: bytes) -> None:
    """Hostile keystore answers never escape as another exception."""
    for pem in (data, b"-----BEGIN CERTIFICATE-----\n" + data, RSA_2048_PEM[:30] + data):
        with contextlib.suppress(KeyLoadError):
            load_rsa_public_key(pem)
