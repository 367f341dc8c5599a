"""The four DORA figures of one pipeline, computed from its audit records (pure functions, no AWS).

Input: release records as the audit trail holds them: the META item of each release (``release_id``,
``status``, ``started_at``, ``environments``, ``release`` {``pushed_at``, ...}, optional ``committed_at``) with a
``results`` mapping of environment name -> that environment's ENV# item (``status``, ``finished_at``).
``AuditLog.releases`` + ``AuditLog.environment_results`` give exactly that (see slipway.cli.history).

Definitions (over a window of ``days`` ending at ``now``; a production deployment belongs to the window when
its ENV# ``finished_at`` does):
- production: the environment named by ``production``, else the last environment of each release.
- deployment frequency: successful production deployments / days.
- lead time for changes: production success ``finished_at`` minus the change time: ``committed_at`` if the
  record has it, else the image push time (``release.pushed_at``), else the release start (when slipway saw the
  push). Median and mean, in seconds.
- change failure rate: failed production deployments / production deployments (succeeded + failed). A release
  that never reached production (rejected, expired, superseded, failed in staging) is not a production
  deployment and changes neither side of the ratio.
- time to restore: from a failed production deployment to the next successful one. Consecutive failures are
  one incident, measured from its first failure. An incident with no success yet is counted as open.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SUCCESS_STATUSES = frozenset({"SUCCEEDED"})
# Environment outcomes that count as a failed production change (the deployment ran and did not hold).
FAILURE_STATUSES = frozenset({"FAILED", "ROLLED_BACK", "STOPPED", "TIMED_OUT", "DEPLOYMENT_FAILED"})


@dataclass(frozen=True)
class ProductionDeployment:
    release_id: str
    succeeded: bool
    finished_at: datetime
    change_at: datetime | None
    change_source: str  # "commit" | "push" | "start" | "unknown"


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


def change_time(record: Mapping[str, Any]) -> tuple[datetime | None, str]:
    """When the change was made: commit time, else push time, else when the release started."""
    committed = parse_time(record.get("committed_at"))
    if committed:
        return committed, "commit"
    release = record.get("release")
    pushed = parse_time(release.get("pushed_at")) if isinstance(release, Mapping) else None
    if pushed:
        return pushed, "push"
    started = parse_time(record.get("started_at"))
    if started:
        return started, "start"
    return None, "unknown"


def production_environment(record: Mapping[str, Any], production: str | None) -> str | None:
    if production:
        return production
    environments = record.get("environments")
    if isinstance(environments, list) and environments:
        return str(environments[-1])
    return None


def production_deployments(
    records: Iterable[Mapping[str, Any]], production: str | None = None
) -> list[ProductionDeployment]:
    """Every finished production deployment (succeeded or failed) in the records, oldest first."""
    out: list[ProductionDeployment] = []
    for record in records:
        env = production_environment(record, production)
        results = record.get("results")
        if env is None or not isinstance(results, Mapping):
            continue
        result = results.get(env)
        if not isinstance(result, Mapping):
            continue
        status = str(result.get("status", "")).upper()
        finished = parse_time(result.get("finished_at"))
        if finished is None or status not in SUCCESS_STATUSES | FAILURE_STATUSES:
            continue
        changed, source = change_time(record)
        out.append(
            ProductionDeployment(
                release_id=str(record.get("release_id", "")),
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
    records: Iterable[Mapping[str, Any]],
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
    records = list(records)
    window = [d for d in production_deployments(records, production) if start <= d.finished_at <= now]
    successes = [d for d in window if d.succeeded]
    failures = [d for d in window if not d.succeeded]
    lead_times = [
        (d.finished_at - d.change_at).total_seconds()
        for d in successes
        if d.change_at is not None and d.change_at <= d.finished_at
    ]
    restored, open_incidents = restore_times(window)
    statuses: Counter[str] = Counter()
    for record in records:
        started = parse_time(record.get("started_at"))
        if started is not None and start <= started <= now:
            statuses[str(record.get("status", "UNKNOWN"))] += 1
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
