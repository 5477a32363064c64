"""Telling the service manager how the daemon is doing.

Until the daemon runs under systemd's notify protocol this only logs; the daemon
talks to it through the ``Lifecycle`` protocol in ``peripheral.daemon``.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class LoggingLifecycle:
    """Reports lifecycle events in the log."""

    def ready(self, status: str) -> None:
        log.info("ready: %s", status)

    def status(self, text: str) -> None:
        log.debug("status: %s", text)

    def stopping(self) -> None:
        log.info("stopping")


def service_lifecycle() -> LoggingLifecycle:
    """The lifecycle reporter for this process."""
    return LoggingLifecycle()
