"""structlog set-up: JSON in production, bound correlation ids, nothing secret in the output."""
from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

# Sort code + account number pairs, bare 8-digit account numbers and card numbers (PAN) never reach a log.
_SECRET_PATTERNS = [
    re.compile(r"\b\d{2}-?\d{2}-?\d{2}\s*\d{8}\b"),
    re.compile(r"\b(?:\d[ -]?){13,19}\b"),
]
_SECRET_KEYS = {"account_number", "payer_account_number", "sort_code", "card_number", "pan", "secret", "signature"}


def redact(value: Any) -> Any:
    if isinstance(value, str):
        for pattern in _SECRET_PATTERNS:
            value = pattern.sub("[redacted]", value)
    return value


def _redact_processor(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        if key.lower() in _SECRET_KEYS:
            event[key] = "[redacted]"
        else:
            event[key] = redact(event[key])
    return event


def configure_logging(service: str, fmt: str = "json", level: int = logging.INFO) -> None:
    renderer: Any = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format=f"%(asctime)s {service} %(name)s %(levelname)s %(message)s")


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
