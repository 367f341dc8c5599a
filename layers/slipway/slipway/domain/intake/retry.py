"""Retrying a release that ended without succeeding: attempt n+1, an execution of its own.

The execution name is the dedup key (``slipway.domain.intake.start``), so the same digest could never run again
after a flaky health check, a fixed config or a fixed CodePipeline artifact. Attempt 1 keeps its name (an automatic
duplicate still costs one call and starts nothing); attempt n+1 is ``<attempt 1's id>-a<n+1>``
(``slipway.models.release.attempt_release_id``), asked for by ``slipway retry`` or by a CodePipeline job with a new
job id. Each attempt is a release of its own in the audit trail (its own environment results, so promotion reads
the attempt's own staging result, never an earlier attempt's), linked both ways (``retry_of`` / ``retried_by``).
"""

from __future__ import annotations

from typing import Protocol

from slipway.errors import SlipwayError
from slipway.models.records import ReleaseRecord
from slipway.models.release import Release, attempt_release_id, first_attempt_id

UNSUCCESSFUL = frozenset({"FAILED", "REJECTED", "EXPIRED", "SUPERSEDED"})
MAX_CHAIN = 1000  # attempts followed from attempt 1 to the latest (a loop in the records stops here)


class RetryRefused(SlipwayError):
    """The release cannot be retried (still running, succeeded, or not found); the message says which."""


class ReleaseRecords(Protocol):
    """The audit trail's release records."""

    def release(self, release_id: str) -> ReleaseRecord | None: ...


def latest_attempt(records: ReleaseRecords, record: ReleaseRecord) -> ReleaseRecord:
    """The newest attempt of ``record``'s release (following ``retried_by``)."""
    for _ in range(MAX_CHAIN):
        if not record.retried_by:
            return record
        following = records.release(record.retried_by)
        if following is None:  # the next attempt started but its record is not written yet: it is the newest
            raise RetryRefused(f"attempt {record.attempt + 1} ({record.retried_by}) has started already")
        record = following
    raise RetryRefused(f"{record.release_id}: more than {MAX_CHAIN} attempts")


def retryable(record: ReleaseRecord) -> bool:
    return not record.running and record.status in UNSUCCESSFUL


def next_attempt(record: ReleaseRecord) -> Release:
    """The release of attempt n+1 of ``record`` (attempt n), which must have ended without succeeding."""
    where = f"{record.release_id} (attempt {record.attempt})"
    if record.running:
        raise RetryRefused(f"{where} is still running: wait for it to end (`slipway status`)")
    if record.status not in UNSUCCESSFUL:
        raise RetryRefused(f"{where} ended {record.status}: there is nothing to retry")
    attempt = record.attempt + 1
    return record.release.model_copy(
        update={
            "release_id": attempt_release_id(first_attempt_id(record.release), attempt),
            "attempt": attempt,
            "retry_of": record.release_id,
            "source_event_id": None,
        }
    )
