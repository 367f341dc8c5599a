"""Fault injection: AWS calls that fail with throttling or a 5xx, as a botocore ``before-call`` hook.

The hook answers a call with an error response instead of sending it, so the call fails as a whole (as it does on
AWS once the SDK's own retries are spent): slipway's handling of ``TransientError`` is what gets exercised, not
botocore's retry loop. ``AwsFaults`` fails a seeded share of calls (``rate``); ``FailFirst`` fails the first ``n``
calls of the operations it names (for tests that need one exact fault). Either is installed on one client
(``install(client)``) or on every client a botocore session creates afterwards (``install_on_session``).

The fake Slack's own fault switch is in ``slipway_dev.local.fake_slack`` (``FakeSlack.faults``). A LocalCloud started
with ``aws_faults`` installs the hook on every client the handlers' wiring creates (``handler_client_patch``), never
on the harness's own clients nor on moto's.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

# (error code, HTTP status): what AWS answers when it throttles or fails.
AWS_FAULTS = (
    ("ThrottlingException", 400),
    ("InternalServerError", 500),
    ("ServiceUnavailable", 503),
)


def error_response(code: str, status: int, operation: str) -> tuple[AWSResponse, dict[str, Any]]:
    """What botocore's ``before-call`` hooks return to stand for the service's answer: (HTTP response, parsed)."""
    parsed = {
        "Error": {"Code": code, "Message": f"injected fault ({operation})"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0},
    }
    return AWSResponse("https://injected.fault.local/", status, HTTPHeaders(), None), parsed


def _operation(model: Any) -> str:
    return f"{model.service_model.service_name}.{model.name}"


@dataclass
class AwsFaults:
    """Fail ``rate`` of the calls (seeded: the same calls fail on every run of the same sequence)."""

    rate: float
    seed: int = 0
    faults: tuple[tuple[str, int], ...] = AWS_FAULTS
    injected: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    enabled: bool = True
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {self.rate}")
        self._random = random.Random(self.seed)  # noqa: S311 - reproducible fault injection, not security

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    def hook(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        with self._lock:
            self.calls += 1
            if not self.enabled or self._random.random() >= self.rate:
                return None
            code, status = self._random.choice(self.faults)
            self.injected[f"{_operation(model)}:{code}"] += 1
        return error_response(code, status, _operation(model))

    def install(self, client: Any) -> None:
        client.meta.events.register("before-call", self.hook)

    def install_on_session(self, session: Any) -> None:
        """Every client the (boto3 or botocore) session creates from now on."""
        events = session.events if hasattr(session, "events") else session.get_component("event_emitter")
        events.register("before-call", self.hook)


def handler_client_patch(faults: AwsFaults | FailFirst) -> Any:
    """A patch of ``slipway.adapters.aws.AwsClients._client``: every client a handler's wiring creates gets the
    hook (the wiring builds its clients there, and nowhere else)."""
    from unittest import mock

    from slipway.adapters.aws import AwsClients

    original = AwsClients._client

    def client_with_faults(self: AwsClients, service: str) -> Any:
        client = original(self, service)
        faults.install(client)
        return client

    return mock.patch.object(AwsClients, "_client", client_with_faults)


@dataclass
class FailFirst:
    """Fail the first ``times`` calls of each named operation (``"stepfunctions.SendTaskSuccess"``)."""

    operations: Iterable[str]
    times: int = 1
    code: str = "ThrottlingException"
    status: int = 400
    failed: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.operations = frozenset(self.operations)

    def hook(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        operation = _operation(model)
        if operation not in self.operations or self.failed[operation] >= self.times:
            return None
        self.failed[operation] += 1
        return error_response(self.code, self.status, operation)

    def install(self, client: Any) -> None:
        client.meta.events.register("before-call", self.hook)

    def install_on_session(self, session: Any) -> None:
        events = session.events if hasattr(session, "events") else session.get_component("event_emitter")
        events.register("before-call", self.hook)
