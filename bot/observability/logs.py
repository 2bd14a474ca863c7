"""Logging, configured once at start-up: readable lines or JSON lines, and never a secret.

Every line goes through `_Redacting`, which replaces the values of the secrets the bot was
given (token, API key) wherever they appear, tracebacks included: a library that one day
logs a header or a URL with a key in it still cannot leak them. Structured fields (the job
line's) travel in a record's `fields` attribute: JSON lines carry them as keys.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
REDACTED = "[redacted]"
# Shorter "secrets" are not secrets (and replacing them would garble every line).
_MIN_SECRET_LENGTH = 8


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the record's `fields`,
    and the traceback as `exception` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _Redacting(logging.Formatter):
    """Formats with `inner`, then blanks out every secret."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self._inner = inner
        self._secrets = sorted(
            {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def format(self, record: logging.LogRecord) -> str:
        text = self._inner.format(record)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def log_formatter(log_format: LogFormat, secrets: Iterable[str] = ()) -> logging.Formatter:
    inner = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    return _Redacting(inner, secrets)


class _BotHandler(logging.StreamHandler[TextIO]):
    """The handler `configure_logging` installs (and replaces when called again)."""


def configure_logging(log_format: LogFormat = "text", secrets: Iterable[str] = ()) -> None:
    """INFO and above to stderr, as text or JSON lines, with `secrets` blanked out. Called
    again (once the settings and the secrets are known), it replaces its earlier set-up."""
    handler = _BotHandler(sys.stderr)
    handler.setFormatter(log_formatter(log_format, secrets))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _BotHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)  # Python warnings as log lines too (JSON stays JSON)
    # The SDK logs request details at DEBUG/INFO; keep them (and any header) out of the log.
    logging.getLogger("google_genai").setLevel(logging.WARNING)
