"""The exchange's WSGI app under waitress, with a total deadline per request.

waitress owns HTTP framing: Content-Length syntax, chunked bodies, header limits,
``Expect: 100-continue``, HEAD, keep-alive, a bounded thread pool and connection limit.
Three things are added here, in waitress's channel and server classes:

- A body over ``max_body_bytes`` gets the exchange's own JSON 413 as soon as the headers
  say so (no ``100 Continue`` first), then the connection is half-closed and what the
  client still sends is read and thrown away (up to ``server.max_drain_bytes``), so a
  client that writes its whole body before reading gets the 413, not a reset.
- waitress's ``channel_timeout`` only fires after inactivity, so a request dribbled a byte
  a second would be served: a connection whose request has been arriving for longer than
  ``request_deadline_seconds`` is closed (checked every second).
- The same deadline bounds the draining above.
- The URL the app sees (which a DPoP proof's ``htu`` names) takes the client's Host header
  only when it names a loopback host on this server's port (127.0.0.1, localhost and
  [::1] all reach it); any other Host is replaced by the server's own address, so a Host
  header cannot make a proof made for another site acceptable here.

This is the exchange's only waitress import.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from waitress.utilities import RequestEntityTooLarge

from endorse_ble.exchange.audit import record
from endorse_ble.exchange.config import ExchangeConfig
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.exchange.service import refusal
from endorse_ble.exchange.wsgi import ExchangeApp
from endorse_ble.tokenlink.net import is_loopback_host

log = logging.getLogger(__name__)
# waitress warns at every request queued behind busy threads: normal under load, and the
# bounded thread pool is the point. Real trouble still shows at ERROR.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)

# How often (seconds) waitress checks its channels: the granularity of the deadline.
_CHECK_INTERVAL = 1
_DRAIN_CHUNK = 65536
# How long stop() waits for the loop and for requests being answered.
_STOP_SECONDS = 5.0


class _TooLargeTask(ErrorTask):  # type: ignore[misc]
    """waitress's error answer, except that a body too large gets the exchange's JSON 413."""

    def execute(self) -> None:
        if not isinstance(self.request.error, RequestEntityTooLarge):
            super().execute()
            return
        limit = self.channel.server.max_body_bytes
        decision = refusal(
            ExchangeError(ErrorCode.REQUEST_TOO_LARGE, f"the body exceeds {limit} bytes")
        )
        record(decision, uuid.uuid4().hex, 0.0)
        body = json.dumps(decision.body).encode()
        self.status = "413 Request Entity Too Large"
        self.response_headers.extend(
            [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        )
        self.set_close_on_finish()
        self.content_length = len(body)
        self.channel.linger = True
        self.write(body)


class _DeadlineChannel(HTTPChannel):  # type: ignore[misc]
    """A waitress channel with a total receive deadline and a lingering close."""

    error_task_class = _TooLargeTask
    #: When the request being received (or the draining) began; None when idle.
    receiving_since: float | None = None
    #: Set by the 413 answer: half-close and drain instead of closing outright.
    linger = False
    draining = False
    _drained = 0

    def received(self, data: bytes) -> bool:
        if data and self.request is None:
            self.receiving_since = time.monotonic()
        result: bool = super().received(data)
        if self.request is None:  # nothing half-received
            self.receiving_since = None
        return result

    def send_continue(self) -> None:
        # Never invite a body that will be refused anyway.
        if self.request is not None and self.request.error is not None:
            self.request.expect_continue = False
            return
        super().send_continue()

    def handle_close(self) -> None:
        if self.linger and self.connected and not self.draining:
            self.linger = False
            try:
                self.socket.shutdown(socket.SHUT_WR)  # our answer is complete: FIN
            except OSError:
                super().handle_close()
                return
            self.draining, self.will_close, self.close_when_flushed = True, False, False
            self.receiving_since = time.monotonic()
            return
        if self._fileno is not None:
            super().handle_close()

    def readable(self) -> bool:
        return True if self.draining else bool(super().readable())

    def writable(self) -> bool:
        return bool(self.will_close) if self.draining else bool(super().writable())

    def handle_read(self) -> None:
        if not self.draining:
            super().handle_read()
            return
        try:
            data = self.recv(_DRAIN_CHUNK)  # b"" (and closed) at the client's EOF
        except OSError:
            data = b""
        self._drained += len(data)
        if not data or self._drained > self.server.max_drain_bytes:
            self.draining = False
            self.handle_close()


class _DeadlineServer(TcpWSGIServer):  # type: ignore[misc]
    channel_class = _DeadlineChannel
    request_deadline = 10.0
    max_body_bytes = 0
    max_drain_bytes = 0

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = time.monotonic() - self.request_deadline
        for channel in list(self.active_channels.values()):
            started = getattr(channel, "receiving_since", None)
            if started is not None and started < cutoff and not channel.will_close:
                log.info("closing a connection whose request overran its deadline")
                channel.will_close = True


class _LoopbackHost:
    """WSGI middleware: keep the Host header only when it names us (loopback, our port)."""

    def __init__(self, app: ExchangeApp) -> None:
        self._app = app
        self.own_host = ""
        self.port = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            named = urlsplit(f"http://{environ.get('HTTP_HOST', '')}/")
            ours = is_loopback_host(named.hostname or "") and named.port == self.port
        except ValueError:  # a malformed Host (an unclosed "[", a port out of range)
            ours = False
        if not ours:
            environ["HTTP_HOST"] = self.own_host
        return self._app(environ, start_response)


class ExchangeServer:
    """The exchange app served by waitress on ``host:port`` (port 0: any free port).

    Binds and listens on construction (OSError if it cannot); :meth:`start` serves on a
    background thread, :meth:`stop` closes every connection and the workers.
    """

    def __init__(self, app: ExchangeApp, config: ExchangeConfig, host: str, port: int) -> None:
        settings = config.server
        adjustments = Adjustments(
            host=host,
            port=port,
            ipv4=":" not in host,
            ipv6=":" in host,
            threads=settings.threads,
            connection_limit=settings.connection_limit,
            backlog=settings.backlog,
            channel_timeout=settings.idle_timeout_seconds,
            cleanup_interval=_CHECK_INTERVAL,
            max_request_header_size=settings.max_header_bytes,
            # waitress refuses a body of this size or more (the 413 is ours, above).
            max_request_body_size=config.max_body_bytes + 1,
            ident="endorse-exchange",
            expose_tracebacks=False,
            asyncore_use_poll=True,
        )
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(adjustments.threads)
        self._map: dict[int, Any] = {}
        host_guard = _LoopbackHost(app)
        self._server = _DeadlineServer(
            host_guard,
            self._map,
            dispatcher=dispatcher,
            adj=adjustments,
            sockinfo=adjustments.listen[0],
        )
        self._server.request_deadline = settings.request_deadline_seconds
        host_guard.own_host = self.url.split("//", 1)[1].rstrip("/")
        host_guard.port = self.port
        self._server.max_body_bytes = config.max_body_bytes
        self._server.max_drain_bytes = settings.max_drain_bytes
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL clients POST to."""
        host, port = self._server.effective_host, self._server.effective_port
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.effective_port)

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread = threading.Thread(target=self._server.run, name="exchange-http")
        self._thread.start()

    def stop(self) -> None:
        """Close the listener and every connection, then stop the workers, then the
        wake-up pipe (workers pull it as they finish a request: closed before them, its
        numbers could be another file's by the time a late worker writes to them)."""
        trigger = self._server.trigger
        if self._thread is not None:
            # Closing from the loop's own thread: the loop ends once its map is empty.
            try:
                trigger.pull_trigger(self._close_connections)
            except OSError as exc:
                # The wake-up pipe is gone (closed under the loop); close from here.
                log.warning("the HTTP loop cannot be woken (%s); closing it directly", exc)
                self._close_connections()
            self._thread.join(_STOP_SECONDS)
            if self._thread.is_alive():
                log.error("the HTTP loop did not stop within %g s", _STOP_SECONDS)
            self._thread = None
        else:
            self._close_connections()
        # Requests being answered get a few seconds to finish; workers are daemons.
        self._server.task_dispatcher.shutdown(timeout=_STOP_SECONDS)
        try:
            trigger.close()
        except OSError as exc:  # closed under us already: the warning above said so
            log.warning("closing the HTTP loop's wake-up pipe: %s", exc)

    def _close_connections(self) -> None:
        """Close the listener and the connections, and take the wake-up pipe out of the
        loop's map without closing it (the loop ends once its map is empty)."""
        server, trigger = self._server, self._server.trigger
        wasyncore.close_all(
            {fd: obj for fd, obj in self._map.items() if obj not in (server, trigger)},
            ignore_all=True,
        )
        # The listener: waitress's server.close() would close the wake-up pipe too.
        with contextlib.suppress(OSError):
            wasyncore.dispatcher.close(server)
        trigger.del_channel()
        self._map.clear()
