"""Reading what the Powertools Logger and Metrics of ``slipway.observability`` print, as CloudWatch would."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slipway.observability import logger, metrics


class JsonLogs:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]


@contextmanager
def json_logs() -> Iterator[JsonLogs]:
    """Every slipway log line, formatted by the Logger's own JSON formatter (correlation id included)."""
    captured = JsonLogs()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(logger.registered_formatter)
    target = logging.getLogger(logger.name)
    target.addHandler(handler)
    try:
        yield captured
    finally:
        target.removeHandler(handler)


def emf_documents(stdout: str) -> list[dict[str, Any]]:
    """The EMF documents ``metrics.flush_metrics`` printed."""
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"_aws"' in line]


def pending_metric(name: str) -> list[float]:
    """Values of ``name`` added since the last flush."""
    return list(metrics.metric_set.get(name, {}).get("Value", []))
