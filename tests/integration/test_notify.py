"""Release notices: one Slack thread per release against the fake Slack over real HTTP; Slack down never raises."""

from __future__ import annotations

import hashlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.world import moto_table

from slipway.adapters.audit import AuditLog
from slipway.adapters.slack import SlackClient
from slipway.domain.notify import ReleaseNotifier, release_headline
from slipway.models.release import Release, release_id_for
from slipway_dev.local.fake_slack import FakeSlack

pytestmark = pytest.mark.integration

TABLE = "slipway-audit-notify"


def make_release(n: int, pipeline: str = "web-app") -> Release:
    digest = "sha256:" + hashlib.sha256(f"{pipeline}-{n}".encode()).hexdigest()
    return Release(
        release_id=release_id_for(pipeline, digest),
        pipeline=pipeline,
        registry="123456789012.dkr.ecr.eu-west-2.amazonaws.com",
        repository="app-images",
        digest=digest,
        tags=[f"v2.{n}"],
        commit="0123456789abcdef",
    )


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int = logging.WARNING) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]


@pytest.fixture
def logs() -> Iterator[Records]:
    handler = Records()
    target = logging.getLogger("slipway")
    target.addHandler(handler)
    yield handler
    target.removeHandler(handler)


@pytest.fixture
def audit() -> Iterator[AuditLog]:
    with moto_table("AuditTable", TABLE) as client:
        yield AuditLog(client, TABLE)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(token="xoxb-test").start()
    yield fake
    fake.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_one_thread_per_release_with_a_reply_per_stage(audit: AuditLog, slack: FakeSlack) -> None:
    client = SlackClient("xoxb-test", slack.base_url)
    notifier = ReleaseNotifier(client, audit)
    first, second = make_release(1), make_release(2)
    for release in (first, second):
        audit.release_started(release, ["staging", "production"])

    notifier.notice(first, "#deploys", "staging: deploying v2.1")
    notifier.notice(second, "#deploys", "staging: deploying v2.2")
    notifier.notice(first, "#deploys", "staging: succeeded")
    notifier.notice(first, None, "production: waiting for approval")

    posts = slack.posts()
    parents = [p for p in posts if not p["thread_ts"]]
    assert [p["text"] for p in parents] == [release_headline(first), release_headline(second)]
    assert all(p["authorized"] for p in posts)

    record = audit.release(first.release_id)
    assert record is not None
    thread = record.slack_thread_ts
    assert record.slack_channel == "#deploys"
    assert thread == parents[0]["ts"]
    replies = [p["text"] for p in posts if p["thread_ts"] == thread]
    assert replies == ["staging: deploying v2.1", "staging: succeeded", "production: waiting for approval"]
    other = audit.release(second.release_id)
    assert other is not None
    assert [p["text"] for p in posts if p["thread_ts"] == other.slack_thread_ts] == ["staging: deploying v2.2"]


def test_slack_down_never_raises_and_is_logged(audit: AuditLog, logs: Records) -> None:
    client = SlackClient("xoxb-test", f"http://127.0.0.1:{closed_port()}/api/")
    sleeps: list[float] = []
    notifier = ReleaseNotifier(client, audit, sleep=sleeps.append)
    release = make_release(3)
    audit.release_started(release, ["staging"])

    notifier.notice(release, "#deploys", "staging: deploying")  # must not raise

    assert sleeps == [0.25, 0.5]  # 3 tries, short backoff between them
    warnings = logs.messages()
    assert warnings.count("slack post failed") == 3
    assert "slack notice not delivered after retries" in warnings
    record = audit.release(release.release_id)
    assert record is not None
    assert record.slack_thread_ts is None  # no thread yet: the next notice tries again


def test_slack_recovering_within_the_retries_delivers(audit: AuditLog, slack: FakeSlack) -> None:
    real = SlackClient("xoxb-test", slack.base_url)

    class Flaky:
        calls = 0

        def post_message(
            self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, thread_ts: str | None = None
        ) -> str:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise ConnectionError("Slack is having a moment")
            return real.post_message(channel, text, blocks, thread_ts)

    notifier = ReleaseNotifier(Flaky(), audit, sleep=lambda _: None)
    release = make_release(4)
    audit.release_started(release, ["staging"])
    notifier.notice(release, "#deploys", "staging: deploying")
    assert [p["text"] for p in slack.posts()] == [release_headline(release), "staging: deploying"]


def test_secret_or_audit_failures_are_logged_not_raised(audit: AuditLog, logs: Records) -> None:
    def no_token() -> SlackClient:
        raise RuntimeError("Secrets Manager unavailable")

    release = make_release(5)
    audit.release_started(release, ["staging"])
    ReleaseNotifier(no_token, audit, sleep=lambda _: None).notice(release, "#deploys", "x")
    assert "slack notice not delivered after retries" in logs.messages()

    class BrokenAudit:
        def release(self, release_id: str) -> dict[str, Any] | None:
            raise OSError("DynamoDB unreachable")

        def set_release_fields(self, release_id: str, **fields: Any) -> None:
            raise AssertionError("not reached")

    ReleaseNotifier(no_token, BrokenAudit()).notice(release, "#deploys", "x")
    assert "release notice dropped" in logs.messages()


def test_no_channel_and_no_thread_posts_nothing(audit: AuditLog, slack: FakeSlack) -> None:
    release = make_release(6)
    audit.release_started(release, ["staging"])
    ReleaseNotifier(SlackClient("xoxb-test", slack.base_url), audit).notice(release, None, "x")
    assert slack.posts() == []


def test_tries_must_be_positive(audit: AuditLog) -> None:
    with pytest.raises(ValueError, match="tries must be at least 1"):
        ReleaseNotifier(lambda: SlackClient("t", "http://127.0.0.1:1/api/"), audit, tries=0)
