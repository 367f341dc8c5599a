"""What every part of the local cloud shares: its account and region, the files it writes, its error type, the
record of what the template deployment produced, and one boto3 session for the process."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

REGION = "eu-west-2"
ACCOUNT = "123456789012"  # moto's default account
LOCAL_BOT_TOKEN = "xoxb-local-slipway-bot-token"  # noqa: S105 - the fake Slack's token, not a secret
RESULTS_FILE = "codepipeline-results.json"
ENV_FILE = "env.json"
FAIL_ENV_VAR = "SLIPWAY_LOCAL_FAIL_DEPLOYMENTS"
EXAMPLE_COMMIT = "bb3216c31784c14a4550e0e09069cdfac00d0165"
# Who pushes in the local cloud: the seed's CodeBuild build, under the pipeline's role (config/people.yaml lists the
# role under automation, so a local release needs the approvals its policy names, no more).
LOCAL_PUSHER = "arn:aws:sts::123456789012:assumed-role/codepipeline-role/AWSCodeBuild-6f1d2c3b-local"


class LocalCloudError(RuntimeError):
    """The local cloud could not start or was asked for something it does not have."""


@dataclass
class Route:
    """One HttpApi event of a function: the gateway calls ``function`` for ``method path``."""

    function: str
    method: str
    path: str


@dataclass
class World:
    """What the template deployment produced: names a user (or test) needs."""

    table_names: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    topic_arns: dict[str, str] = field(default_factory=dict)
    state_machine_arns: dict[str, str] = field(default_factory=dict)
    function_arns: dict[str, str] = field(default_factory=dict)
    config_location: str = ""
    slack_secret_arn: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)  # the template's parameters, as resolved


def utcnow_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_SESSION: Any = None


def shared_session() -> Any:
    """One boto3 session for every LocalCloud of the process: botocore caches service models per session."""
    global _SESSION  # noqa: PLW0603 - a cache
    if _SESSION is None:
        import boto3

        _SESSION = boto3.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
            aws_session_token="testing",  # noqa: S106
            region_name=REGION,
        )
    return _SESSION


def wait_for(
    predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition", interval: float = 0.05
) -> Any:
    """The first truthy value of ``predicate()``, polled every ``interval`` s; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached after {timeout}s")
