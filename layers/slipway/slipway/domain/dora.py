"""The four DORA figures of one pipeline, computed from its audit records (pure functions, no AWS).

Input: ``ReleaseHistory`` records (``slipway.models.records``): each release's record (status, start, environments,
the release with its push time) and its environments' results (status, finished_at), as ``AuditLog.histories``
reads them.

Definitions (over a window of ``days`` ending at ``now``; a production deployment belongs to the window when
its ENV# ``finished_at`` does):
- production: the environment named by ``production``, else the last environment of each release.
- deployment frequency: successful production deployments / days.
- lead time for changes: production success ``finished_at`` minus the change time: the image push time
  (``release.pushed_at``), else the release start (when slipway saw the push). Median and mean, in seconds.
- change failure rate: failed production deployments / production deployments (succeeded + failed). A release
  that never reached production (rejected, expired, superseded, failed in staging) is not a production
  deployment and changes neither side of the ratio.
- time to restore: from a failed production deployment to the next successful one. Consecutive failures are
  one incident, measured from its first failure. An incident with no success yet is counted as open.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from slipway.models.records import ReleaseHistory, ReleaseRecord
from slipway.models.release import Release

SUCCESS_STATUSES = frozenset({"SUCCEEDED"})
# Environment outcomes that count as a failed production change (the deployment ran and did not hold).
FAILURE_STATUSES = frozenset({"FAILED", "ROLLED_BACK", "STOPPED", "TIMED_OUT", "DEPLOYMENT_FAILED"})


@dataclass(frozen=True)
class ProductionDeployment:
    release_id: str
    succeeded: bool
    finished_at: datetime
    change_at: datetime | None
    change_source: str  # "push" | "start" | "unknown"


@dataclass(frozen=True)
class DoraFigures:
    pipeline: str | None
    days: int
    window_start: str
    window_end: str
    deployments: int
    deployment_frequency_per_day: float
    lead_time_median_seconds: float | None
    lead_time_mean_seconds: float | None
    lead_time_samples: int
    production_attempts: int
    change_failures: int
    change_failure_rate: float | None
    restores: int
    time_to_restore_median_seconds: float | None
    time_to_restore_mean_seconds: float | None
    open_incidents: int
    release_statuses: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string (``Z`` or offset; naive means UTC) or a datetime -> aware datetime; else None."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def change_time(record: ReleaseRecord | None, release: Release | None = None) -> tuple[datetime | None, str]:
    """When the change was made: the image push time, else when the release started."""
    pushed_from = record.release if record is not None else release
    pushed = parse_time(pushed_from.pushed_at) if pushed_from is not None else None
    if pushed:
        return pushed, "push"
    started = parse_time(record.started_at) if record is not None else None
    if started:
        return started, "start"
    return None, "unknown"


def production_environment(record: ReleaseRecord, production: str | None) -> str | None:
    if production:
        return production
    return record.environments[-1] if record.environments else None


def production_deployments(
    histories: Iterable[ReleaseHistory], production: str | None = None
) -> list[ProductionDeployment]:
    """Every finished production deployment (succeeded or failed) in the histories, oldest first."""
    out: list[ProductionDeployment] = []
    for history in histories:
        record = history.record
        env = production_environment(record, production)
        result = history.results.get(env) if env is not None else None
        if result is None:
            continue
        status = result.status.upper()
        finished = parse_time(result.finished_at)
        if finished is None or status not in SUCCESS_STATUSES | FAILURE_STATUSES:
            continue
        changed, source = change_time(record)
        out.append(
            ProductionDeployment(
                release_id=record.release_id,
                succeeded=status in SUCCESS_STATUSES,
                finished_at=finished,
                change_at=changed,
                change_source=source,
            )
        )
    out.sort(key=lambda d: d.finished_at)
    return out


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _mean(values: list[float]) -> float | None:
    return float(statistics.fmean(values)) if values else None


def restore_times(deployments: list[ProductionDeployment]) -> tuple[list[float], int]:
    """Seconds from each incident's first failure to the next success, and how many incidents are still open."""
    restored: list[float] = []
    opened: datetime | None = None
    for deployment in sorted(deployments, key=lambda d: d.finished_at):
        if not deployment.succeeded:
            opened = opened or deployment.finished_at
        elif opened is not None:
            restored.append((deployment.finished_at - opened).total_seconds())
            opened = None
    return restored, 1 if opened is not None else 0


def dora_figures(
    histories: Iterable[ReleaseHistory],
    *,
    now: datetime,
    days: int = 30,
    production: str | None = None,
    pipeline: str | None = None,
) -> DoraFigures:
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    start = now - timedelta(days=days)
    histories = list(histories)
    window = [d for d in production_deployments(histories, production) if start <= d.finished_at <= now]
    successes = [d for d in window if d.succeeded]
    failures = [d for d in window if not d.succeeded]
    lead_times = [
        (d.finished_at - d.change_at).total_seconds()
        for d in successes
        if d.change_at is not None and d.change_at <= d.finished_at
    ]
    restored, open_incidents = restore_times(window)
    statuses: Counter[str] = Counter()
    for history in histories:
        started = parse_time(history.record.started_at)
        if started is not None and start <= started <= now:
            statuses[history.record.status] += 1
    return DoraFigures(
        pipeline=pipeline,
        days=days,
        window_start=start.isoformat(),
        window_end=now.isoformat(),
        deployments=len(successes),
        deployment_frequency_per_day=len(successes) / days,
        lead_time_median_seconds=_median(lead_times),
        lead_time_mean_seconds=_mean(lead_times),
        lead_time_samples=len(lead_times),
        production_attempts=len(window),
        change_failures=len(failures),
        change_failure_rate=len(failures) / len(window) if window else None,
        restores=len(restored),
        time_to_restore_median_seconds=_median(restored),
        time_to_restore_mean_seconds=_mean(restored),
        open_incidents=open_incidents,
        release_statuses=dict(sorted(statuses.items())),
    )


def format_duration(seconds: float | None) -> str:
    """1h 05m, 2d 3h, 42s; '-' for no value."""
    if seconds is None:
        return "-"
    total = round(seconds)
    days_, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days_:
        return f"{days_}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
