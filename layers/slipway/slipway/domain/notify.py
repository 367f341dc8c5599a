"""Release notices in Slack: one thread per release, a reply per stage, and never a failed deployment.

The first notice of a release posts a one-line parent message (pipeline, tags, digest, commit) and keeps its ts
in the audit record (``slack_thread_ts`` / ``slack_channel`` on META); each notice is then a reply in that thread,
so a channel shows one line per release. A Slack outage is retried (3 tries, short backoff), then logged: a notice
never raises, so it can never fail a release step, and approvals keep waiting on their task tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from slipway.domain.image_facts import recorded_release
from slipway.models.records import ReleaseRecord
from slipway.models.release import Release
from slipway.observability import logger

DEFAULT_TRIES = 3
DEFAULT_BACKOFF_SECONDS = 0.25


@runtime_checkable
class SlackPoster(Protocol):
    """Slack's chat.postMessage (the adapter is ``SlackClient``)."""

    def post_message(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> str: ...


class ReleaseRecords(Protocol):
    """The audit trail's release record (where the thread is kept)."""

    def release(self, release_id: str) -> ReleaseRecord | None: ...

    def set_release_fields(self, release_id: str, **fields: Any) -> None: ...


def release_headline(release: Release) -> str:
    """The parent line of a release's thread."""
    what = ", ".join(f"`{t}`" for t in release.tags) or f"`{release.digest.removeprefix('sha256:')[:12]}`"
    commit = f" (commit `{release.commit[:12]}`)" if release.commit else ""
    return f":ship: *{release.pipeline}* release {what}{commit}"


class ReleaseNotifier:
    def __init__(
        self,
        slack: SlackPoster | Callable[[], SlackPoster],
        audit: ReleaseRecords,
        *,
        tries: int = DEFAULT_TRIES,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``slack`` is a client or a zero-argument factory (called on first notice: the bot token is a secret)."""
        if tries < 1:
            raise ValueError(f"tries must be at least 1, got {tries}")
        self._slack_or_factory = slack
        self._slack: SlackPoster | None = slack if isinstance(slack, SlackPoster) else None
        self._audit = audit
        self._tries = tries
        self._backoff = backoff_seconds
        self._sleep = sleep

    def notice(self, release: Release, channel: str | None, text: str) -> None:
        """Reply ``text`` in the release's thread (starting it in ``channel`` if there is none). Never raises."""
        try:
            self._notice(release, channel, text)
        except Exception:  # a notice must never fail a deployment; the cause is logged with the release id
            logger.exception(
                "release notice dropped", extra={"release_id": release.release_id, "notice": text, "channel": channel}
            )

    def _notice(self, release: Release, channel: str | None, text: str) -> None:
        record = self._audit.release(release.release_id)
        if record is not None and record.slack_thread_ts and record.slack_channel:
            # The release's thread wins: ``channel`` only decides where a new thread starts.
            self._post(release, record.slack_channel, text, thread_ts=record.slack_thread_ts)
            return
        if not channel:
            logger.info("release notice skipped: no Slack channel", extra={"release_id": release.release_id})
            return
        # The headline shows every tag and the commit PrepareEnvironment recorded (see domain/image_facts.py).
        parent = self._post(release, channel, release_headline(recorded_release(release, record)))
        if parent is None:
            return  # logged by _post; the next notice tries to start the thread again
        self._audit.set_release_fields(release.release_id, slack_thread_ts=parent, slack_channel=channel)
        self._post(release, channel, text, thread_ts=parent)

    def _client(self) -> SlackPoster:
        if self._slack is None:
            factory = self._slack_or_factory
            assert callable(factory)
            self._slack = factory()
        return self._slack

    def _post(self, release: Release, channel: str, text: str, thread_ts: str | None = None) -> str | None:
        """The message ts, or None once every try failed (each failure logged)."""
        for attempt in range(1, self._tries + 1):
            try:
                return self._client().post_message(channel, text, thread_ts=thread_ts)
            except Exception as exc:  # any Slack/transport/secret error: retried, then logged, never raised
                logger.warning(
                    "slack post failed",
                    extra={
                        "release_id": release.release_id,
                        "channel": channel,
                        "attempt": attempt,
                        "tries": self._tries,
                        "error": f"{type(exc).__name__}: {exc}",
                    },
                )
                if attempt < self._tries:
                    self._sleep(self._backoff * 2 ** (attempt - 1))
        logger.error(
            "slack notice not delivered after retries",
            extra={"release_id": release.release_id, "channel": channel, "notice": text, "tries": self._tries},
        )
        return None
