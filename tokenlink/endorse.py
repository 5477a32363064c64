"""What SORACOM Endorse publishes: its endpoint, its token claims, where its keys live.

One home for these facts (endorse-facts.md; SORACOM Endorse docs), so the gateway that
fetches tokens, the laptop that verifies one and the exchange that trades one agree.
"""

from __future__ import annotations

import re

#: The endpoint a gateway asks, over the SIM's own link, for a token.
ENDORSE_URL = "https://endorse.soracom.io"
#: The claims every Endorse token carries.
ENDORSE_ISSUER = "https://soracom.io"
ENDORSE_AUDIENCE = "soracom-endorse-audience"
ENDORSE_SUBJECT = "soracom-endorse"
#: Where SORACOM publishes the signers' public keys; the kid is appended.
KEYSTORE_URL = "https://s3-ap-northeast-1.amazonaws.com/soracom-public-keys/"
#: Endorse key ids as published: ``v1-<32 hex>-x509.pem``. Always used with fullmatch.
KID_PATTERN = re.compile(r"^v1-[0-9a-f]{32}-x509\.pem$")

# Characters that would let a kid leave the keystore prefix or change the URL's meaning
# (RFC 3986 section 3: "/", "?", "#", "%"-encoding, ":" for a scheme, "\" for Windows-minded
# parsers). Refused whatever pattern a caller configures.
_KID_FLOOR = re.compile(r"[A-Za-z0-9._-]{1,128}")


def is_safe_kid(kid: object, pattern: re.Pattern[str] = KID_PATTERN) -> bool:
    """True when ``kid`` may be appended to a keystore prefix to name a URL.

    It must fullmatch ``pattern`` and also the fixed floor (URL-neutral characters, at most
    128, no ``..``) that no configured pattern can relax.
    """
    return (
        isinstance(kid, str)
        and _KID_FLOOR.fullmatch(kid) is not None
        and ".." not in kid
        and pattern.fullmatch(kid) is not None
    )
