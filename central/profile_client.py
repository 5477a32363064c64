"""The token profile's client side (docs/protocol.md) as pure code over a small GATT link.

Everything a central does with the gateway's characteristics lives here: the torn-read
retry, the challenge state machine, and what to do when the gateway says "busy" or
"budget spent". It talks to a :class:`GattLink` (read, write, subscribe), so it is tested
without D-Bus; central.ble_reader adapts bleak to that link, as python-fido2 keeps CTAP
apart from its HID and BLE transports. Standard library only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol

from endorse_ble.central.errors import BleReadError, ReadFailure
from endorse_ble.tokenlink import profile
from endorse_ble.tokenlink.nonce import challenge_nonce
from endorse_ble.tokenlink.redact import describe_secret

log = logging.getLogger(__name__)

#: Info is polled this often when notifications are unavailable (docs/protocol.md).
POLL_SECONDS = 0.25
#: A token answering another central's nonce replaced ours before we read it: write a new
#: nonce at most this many times more.
MAX_RECHALLENGES = 3


class AttError(Exception):
    """The gateway answered a request with an ATT error ``code`` (the link parsed it)."""

    def __init__(self, code: int, text: str) -> None:
        self.code = code
        self.text = text
        super().__init__(f"ATT error 0x{code:02x}: {text}")


class GattLink(Protocol):
    """One connected gateway, as little as the profile needs.

    Implementations raise :class:`AttError` for an ATT error they can identify, and
    BleReadError PAIRING_NEEDED / LINK_LOST for a refused security level or a lost link.
    """

    async def read(self, uuid: str) -> bytes: ...

    async def write(self, uuid: str, data: bytes) -> None: ...

    async def subscribe(self, uuid: str, callback: Callable[[bytes], None]) -> bool:
        """Deliver notifications of ``uuid`` to ``callback``; False if unavailable."""
        ...

    async def paired(self) -> bool | None:
        """Whether the link's device is paired with us (None: this platform cannot tell)."""
        ...


@dataclass(frozen=True)
class ReaderOptions:
    """How to find and talk to the gateway."""

    name: str | None = None
    address: str | None = None
    adapter: str | None = None
    scan_timeout: float = 10.0
    connect_attempts: int = 3
    challenge_timeout: float = 30.0
    max_torn_retries: int = 3
    pair: bool = False


@dataclass(frozen=True)
class TokenRead:
    """A token read from the gateway, with how it was obtained."""

    token: str
    info: profile.InfoRecord
    nonce: str | None


def refusal_for(status: dict[str, Any], tag: int) -> dict[str, Any] | None:
    """Status's ``refused`` entry for the nonce tagged ``tag``, if the gateway lists it."""
    entries = status.get("refused")
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("tag") == tag:
            return entry
    return None


def _seconds(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 86400:
        return value
    return None


def describe_refusal(entry: dict[str, Any] | None) -> str:
    """Words for a budget refusal: why, and when the next fresh token is allowed."""
    why = entry.get("why") if entry else None
    wait = _seconds(entry.get("next_in")) if entry else None
    if why == "ceiling":
        text = "the gateway's hourly limit of fresh tokens for unpaired laptops is reached"
    else:
        text = "this laptop's budget of fresh tokens at the gateway is spent"
    if wait is not None:
        text += f"; the next is allowed in {wait} s"
    return text


class ProfileClient:
    """The profile spoken over one :class:`GattLink`."""

    def __init__(
        self,
        link: GattLink,
        options: ReaderOptions,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._link = link
        self._options = options
        self._clock = clock
        self._wall = wall
        self._info_event = asyncio.Event()
        self._subscribed = False
        self._use_bonded: bool | None = None

    # --- reads --------------------------------------------------------------------------

    async def read_info(self) -> profile.InfoRecord:
        """Read and decode the 20-byte info record."""
        try:
            return profile.InfoRecord.decode(await self._link.read(profile.INFO_UUID))
        except profile.ProfileError as exc:
            raise BleReadError(ReadFailure.PROFILE, str(exc)) from exc

    async def read_status(self) -> dict[str, Any]:
        """Read the gateway's status record (never contains the token).

        Status is one long read (several Read Blobs at a small MTU) and may change between
        them, like the pages: a record that does not parse is read again, a bounded number
        of times (docs/protocol.md, "Status")."""
        for attempt in range(self._options.max_torn_retries + 1):
            try:
                return profile.decode_status(await self._link.read(profile.STATUS_UUID))
            except profile.ProfileError as exc:
                if attempt == self._options.max_torn_retries:
                    raise BleReadError(ReadFailure.PROFILE, str(exc)) from exc
                log.info("the status record changed while being read: reading it again")
        raise AssertionError("unreachable")

    async def _read_pages(self, info: profile.InfoRecord) -> str:
        pages = [await self._link.read(profile.page_uuid(i)) for i in range(info.page_count)]
        return profile.assemble(info, pages)

    async def read_served(
        self, info: profile.InfoRecord | None = None, nonce: str | None = None
    ) -> TokenRead:
        """Read the token being served. A torn read (length or hash differ from Info) is
        followed by a new Info read and a new attempt: ``max_torn_retries`` of them after
        the first (docs/protocol.md, "Reading the token")."""
        info = info or await self.read_info()
        for attempt in range(self._options.max_torn_retries + 1):
            if info.token_state is not profile.TokenState.READY:
                raise await self._no_token(info)
            try:
                token = await self._read_pages(info)
            except profile.TornReadError as exc:
                log.info("the token changed while being read (attempt %d): %s", attempt + 1, exc)
                info = await self.read_info()
                continue
            except profile.ProfileError as exc:
                raise BleReadError(ReadFailure.PROFILE, str(exc)) from exc
            log.info("read the token: %s in %d pages", describe_secret(token), info.page_count)
            return TokenRead(token, info, nonce)
        raise BleReadError(
            ReadFailure.TORN,
            f"the token kept changing while being read ({self._options.max_torn_retries + 1} "
            "attempts); try again",
        )

    async def _no_token(self, info: profile.InfoRecord) -> BleReadError:
        status = await self.read_status()
        reason = status.get("error") or info.token_state.name.lower()
        return BleReadError(ReadFailure.NO_TOKEN, f"the gateway has no token to serve: {reason}")

    async def read_token(self, *, fresh: bool = False) -> TokenRead:
        """The gateway's token; with ``fresh``, a new one bound to a nonce of ours."""
        if fresh:
            return await self.challenge(challenge_nonce(None))
        info = await self.read_info()
        if info.token_state is profile.TokenState.READY and info.expires_at > self._wall():
            return await self.read_served(info)
        # An on-demand gateway fetches when asked: an empty challenge is that request.
        return await self.challenge(None)

    # --- the challenge state machine ------------------------------------------------------

    async def challenge(self, nonce: str | None) -> TokenRead:
        """Write ``nonce`` (None: just ask for a token) and wait for its answer to be served.

        "Busy" (another central's challenge in flight) is waited out and the nonce written
        again; a budget refusal ends with the gateway's reason and wait; an answer that a
        newer token replaced before we read it is asked for again (bounded).
        """
        await self._subscribe_info()
        deadline = self._clock() + self._options.challenge_timeout
        tag = profile.nonce_tag(nonce)
        for _ in range(MAX_RECHALLENGES + 1):
            await self._write_until_accepted(nonce, tag, deadline)
            result = await self._await_answer(nonce, tag, deadline)
            if result is not None:
                return result
            log.info("another token replaced the answer to our challenge: asking again")
        raise BleReadError(
            ReadFailure.TIMEOUT,
            "other laptops' fresh tokens kept replacing ours before it could be read",
        )

    async def _write_until_accepted(self, nonce: str | None, tag: int, deadline: float) -> None:
        data = (nonce or "").encode()
        while True:
            self._info_event.clear()
            try:
                await self._write_challenge(data, bonded_allowed=nonce is not None)
                return
            except AttError as exc:
                if exc.code == profile.ATT_CHALLENGE_BUSY:
                    log.info("the gateway is busy with another challenge: waiting")
                    await self._wait_for_change(deadline, "the gateway stayed busy with others")
                    continue
                if exc.code == profile.ATT_CHALLENGE_REFUSED:
                    entry = refusal_for(await self.read_status(), tag)
                    raise BleReadError(ReadFailure.BUDGET, describe_refusal(entry)) from exc
                raise BleReadError(
                    ReadFailure.PROFILE, f"the gateway refused the challenge: {exc}"
                ) from exc

    async def _write_challenge(self, data: bytes, *, bonded_allowed: bool) -> None:
        if bonded_allowed and await self._bonded():
            try:
                await self._link.write(profile.BONDED_CHALLENGE_UUID, data)
                return
            except BleReadError as exc:
                if exc.reason is not ReadFailure.PAIRING_NEEDED:
                    raise
                # Not bonded after all (or an older gateway): the plain budget, then.
                log.info("the Bonded Challenge needs a bond we lack: using Challenge")
                self._use_bonded = False
        await self._link.write(profile.CHALLENGE_UUID, data)

    async def _bonded(self) -> bool:
        if self._use_bonded is None:
            paired = await self._link.paired()
            self._use_bonded = self._options.pair if paired is None else paired
            log.info(
                "paired with the gateway: %s; challenging through %s",
                "unknown" if paired is None else paired,
                "Bonded Challenge" if self._use_bonded else "Challenge",
            )
        return self._use_bonded

    async def _await_answer(self, nonce: str | None, tag: int, deadline: float) -> TokenRead | None:
        """Wait until Info serves our answer (read it), our challenge failed (raise), or
        a newer token replaced it before we could read it (None)."""
        while True:
            info = await self.read_info()
            if nonce is None:
                if info.token_state is profile.TokenState.FAILED:
                    raise await self._fetch_failed(None)
                if info.token_state is profile.TokenState.READY:
                    return await self.read_served(info, None)
            elif info.token_state is profile.TokenState.READY and info.nonce_tag == tag:
                result = await self.read_served(info, nonce)
                if result.info.nonce_tag == tag:
                    return result
                return None
            elif info.challenge_state is not profile.ChallengeState.FETCHING:
                status = await self.read_status()
                ours = _challenge_tag(status) in (tag, None)  # None: an older gateway
                if ours and info.challenge_state is profile.ChallengeState.FAILED:
                    raise await self._fetch_failed(status)
                # Ours was answered and replaced by a newer token, or a later challenge
                # (another central's) came after ours: ask again.
                return None
            await self._wait_for_change(
                deadline,
                f"the gateway did not serve a fresh token within "
                f"{self._options.challenge_timeout:g} s",
            )

    async def _fetch_failed(self, status: dict[str, Any] | None) -> BleReadError:
        status = status if status is not None else await self.read_status()
        error = status.get("error")
        reason = error if isinstance(error, str) and error else "no reason given"
        return BleReadError(ReadFailure.CHALLENGE_FAILED, reason)

    async def _wait_for_change(self, deadline: float, timeout_message: str) -> None:
        """Until an Info notification or the next poll; TIMEOUT past ``deadline``."""
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise BleReadError(ReadFailure.TIMEOUT, timeout_message)
        # Woken by an Info notification; the poll is the fallback for centrals whose
        # stack cannot subscribe (and for a notification lost on the way).
        with suppress(TimeoutError):
            await asyncio.wait_for(self._info_event.wait(), min(remaining, POLL_SECONDS))
        self._info_event.clear()

    async def _subscribe_info(self) -> None:
        if self._subscribed:
            return
        self._subscribed = await self._link.subscribe(profile.INFO_UUID, self._on_info)
        if not self._subscribed:
            log.info("Info notifications unavailable: polling instead")

    def _on_info(self, _data: bytes) -> None:
        self._info_event.set()


def _challenge_tag(status: dict[str, Any]) -> int | None:
    """Status ``challenge.tag``; None from a gateway that does not send it (older)."""
    challenge = status.get("challenge")
    tag = challenge.get("tag") if isinstance(challenge, dict) else None
    return tag if isinstance(tag, int) and not isinstance(tag, bool) else None
