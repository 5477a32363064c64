"""Hostile answers for the Endorse simulator: what a broken or malicious server does.

Each writes its whole answer through the request handler's socket and returns; the
simulator's ``_play_fault`` dispatches here for the faults below. They exist to prove the
gateway's fetch deadline and size bounds (field-facts.md, "requests and redirects").
"""

from __future__ import annotations

import json
import logging
import ssl
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)

#: Bytes per dribble step, and the pause between steps.
DRIBBLE_BYTES = 1
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, TimeoutError, OSError)


class HandlerLike(Protocol):
    wfile: Any
    close_connection: bool


def dribble(handler: HandlerLike, data: bytes, pause: float, stopping: threading.Event) -> None:
    """Send ``data`` a byte at a time, ``pause`` seconds apart, until done or stopped."""
    try:
        for index in range(len(data)):
            if stopping.wait(pause):
                return
            handler.wfile.write(data[index : index + 1])
            handler.wfile.flush()
    except _CLIENT_GONE:
        logger.debug("dribble: the client hung up (as it should)")


def dribbled_headers(handler: HandlerLike, pause: float, stopping: threading.Event) -> None:
    """A status line and headers that never finish: one byte per ``pause`` seconds."""
    handler.close_connection = True
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(
        b"X-Pad-%d: %s\r\n" % (i, b"p" * 40) for i in range(100)
    )
    dribble(handler, head, pause, stopping)


def redirect(
    handler: HandlerLike, body_bytes: int, pause: float | None, stopping: threading.Event
) -> None:
    """A 302 with a body of ``body_bytes`` bytes, sent at once or dribbled (``pause``)."""
    handler.close_connection = True
    head = (
        "HTTP/1.1 302 Found\r\nLocation: https://elsewhere.invalid/\r\n"
        f"Content-Type: text/html\r\nContent-Length: {body_bytes}\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        handler.wfile.write(head)
        if pause is not None:
            dribble(handler, b"<" * body_bytes, pause, stopping)
            return
        chunk = b"R" * 65536
        sent = 0
        while sent < body_bytes and not stopping.is_set():
            handler.wfile.write(chunk[: body_bytes - sent])
            sent += min(len(chunk), body_bytes - sent)
    except _CLIENT_GONE:
        logger.debug("redirect body: the client hung up (as it should)")


def retry_after(handler: HandlerLike, status: int, value: str) -> None:
    """``status`` (429 or 503) with ``Retry-After: value`` and a short JSON body."""
    body = json.dumps({"code": "SLOW_DOWN", "message": "too many requests"}).encode()
    reason = {429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Retry-After: {value}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        handler.wfile.write(head + body)
    except _CLIENT_GONE:
        logger.debug("retry-after: the client hung up")


def self_signed_context(
    hostname: str = "127.0.0.1", *, not_before_days: int = -1
) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for ``hostname``.

    ``not_before_days`` > 0 makes a certificate that is not valid yet.
    """
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=not_before_days))
        .not_valid_after(now + timedelta(days=not_before_days + 30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(hostname))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as scratch:
        cert_path, key_path = Path(scratch, "cert.pem"), Path(scratch, "key.pem")
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context.load_cert_chain(cert_path, key_path)
    return context
