"""Endorse's answer, read without trusting it: bounded bytes, JSON, a token, the nonce.

Pure (no network library), so every refusal is tested with byte literals. The HTTP
adapter (:mod:`endorse_ble.peripheral.endorse_client`) feeds it the status, headers and body chunks.
Endorse answers ``{"token": "<JWT>"}`` (SORACOM Endorse docs); its error answers are not
documented, so any non-200 is an error carrying a short, sanitised excerpt of the body.
"""

from __future__ import annotations

import json
import urllib.parse

from endorse_ble.peripheral.errors import EndorseFetchError, EndorseFetchReason
from endorse_ble.tokenlink.errors import TokenFormatError
from endorse_ble.tokenlink.nonce import NonceError, check_nonce
from endorse_ble.tokenlink.redact import redact_tokens
from endorse_ble.tokenlink.text import one_line
from endorse_ble.tokenlink.token import Token, parse_token

#: How much of an error body is quoted in a message.
EXCERPT_CHARS = 120


def nonce_query(nonce: str) -> str:
    """``nonce=<nonce>`` percent-encoded (RFC 3986), spaces as %20 rather than '+'.

    '+' for a space is form encoding that only some servers undo; %20 means a space to
    every URL parser, so the nonce Endorse copies into the token is the one we sent.
    """
    try:
        check_nonce(nonce)
    except NonceError as exc:
        raise EndorseFetchError(EndorseFetchReason.BAD_NONCE, str(exc)) from None
    return urllib.parse.urlencode({"nonce": nonce}, quote_via=urllib.parse.quote)


def excerpt(body: bytes) -> str:
    """A short, printable, single-line excerpt of a hostile body for an error message."""
    # Never a token or a fragment of one: the excerpt ends up in log lines.
    text = body[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    return one_line(redact_tokens(text), EXCERPT_CHARS)


def check_status(status: int, body: bytes, *, retry_after: float | None = None) -> None:
    """Raise unless ``status`` is 200; name the class of failure and quote the body.

    ``retry_after`` (the answer's Retry-After, already bounded) travels with the error.
    """
    if status == 200:
        return
    message = _error_message(body)
    if status == 429:
        wait = f"; it asks for {retry_after:.0f} s" if retry_after is not None else ""
        raise EndorseFetchError(
            EndorseFetchReason.RATE_LIMITED,
            f"Endorse is limiting requests (HTTP 429: {message}){wait}",
            status=status, retry_after=retry_after,
        )  # fmt: skip
    if 400 <= status < 500:
        raise EndorseFetchError(
            EndorseFetchReason.REFUSED,
            f"Endorse refused the request with HTTP {status} ({message}); is it going over "
            "the SIM's own link, and is Endorse on for the SIM's group?",
            status=status,
        )
    if 500 <= status < 600:
        raise EndorseFetchError(
            EndorseFetchReason.SERVER_ERROR, f"Endorse failed with HTTP {status} ({message})",
            status=status, retry_after=retry_after,
        )  # fmt: skip
    raise EndorseFetchError(
        EndorseFetchReason.UNEXPECTED_STATUS, f"unexpected HTTP {status} ({message})",
        status=status,
    )  # fmt: skip


def _error_message(body: bytes) -> str:
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        value = None
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return excerpt(value["message"].encode())
    return excerpt(body) or "empty body"


def check_declared_length(content_length: str | None, limit: int) -> None:
    """Refuse before reading when the server announces a body larger than ``limit``."""
    if content_length is None:
        return
    try:
        declared = int(content_length)
    except ValueError:
        raise EndorseFetchError(
            EndorseFetchReason.NOT_JSON, f"bad Content-Length {excerpt(content_length.encode())!r}"
        ) from None
    if declared > limit:
        raise EndorseFetchError(
            EndorseFetchReason.BODY_TOO_LARGE,
            f"Endorse announced {declared} bytes, more than the {limit}-byte limit",
        )


def token_from_body(body: bytes, nonce: str | None) -> Token:
    """The token in a 200 answer's body, checked to carry ``nonce`` when one was asked."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EndorseFetchError(
            EndorseFetchReason.NOT_JSON,
            f"Endorse's answer is not JSON ({type(exc).__name__}: {excerpt(body)!r})",
        ) from None
    if not isinstance(value, dict):
        raise EndorseFetchError(EndorseFetchReason.NOT_JSON, "Endorse's answer is not an object")
    raw = value.get("token")
    if not isinstance(raw, str):
        what = "has no" if raw is None else f"has a {type(raw).__name__} as its"
        raise EndorseFetchError(
            EndorseFetchReason.NO_TOKEN, f'Endorse\'s answer {what} "token" string'
        )
    try:
        token = parse_token(raw)
    except TokenFormatError as exc:
        raise EndorseFetchError(
            EndorseFetchReason.BAD_TOKEN, f"Endorse's token is unusable: {exc}"
        ) from exc
    if nonce is not None and token.nonce != nonce:
        carried = "no nonce" if token.nonce is None else "a different nonce"
        raise EndorseFetchError(
            EndorseFetchReason.NONCE_MISMATCH,
            f"asked for a token carrying a nonce, got one with {carried} (is "
            "parametersToEndorse.requestParameters enabled for the SIM group?)",
        )
    return token
