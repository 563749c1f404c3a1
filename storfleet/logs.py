"""Logging set-up, with a last line of defence against secrets in log lines.

storfleet never passes a secret to a logger on purpose; the filter below also masks
``password=...``-style pairs and bearer tokens that a library or a driver might log.
"""

from __future__ import annotations

import logging
import re
import sys

_SECRET_PAIR = re.compile(
    r"""(?ix)
    (["']?(?:password|passwd|community(?:_string)?|auth_key|privacy_key|priv_key|secret
         |token|api_key|authorization)["']?\s*[:=]\s*)
    (?:"[^"]*"|'[^']*'|bearer\s+\S+|[^\s,;}&]+)
    """
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str) -> str:
    text = _SECRET_PAIR.sub(r"\1***", text)
    return _BEARER.sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (as the standard
    library's last-resort handler does), not the stream of set-up time: a command run
    in-process (tests, embedding) must not keep writing to a stream since closed."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


def setup_logging(level: str = "INFO") -> None:
    handler = _CurrentStderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic narrates every connection at INFO; storfleet logs the migrations it runs.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # httpx logs every request at INFO (drivers, exporters, the CLI's client).
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
