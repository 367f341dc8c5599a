"""DORA figures against hand-computed values for a scripted series of releases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from slipway.domain.dora import dora_figures, format_duration, production_deployments, restore_times
from slipway.models.records import EnvironmentResult, ReleaseHistory, ReleaseRecord
from slipway.models.release import Release, release_id_for

DIGEST = "sha256:" + "d0" * 32

NOW = datetime(2024, 6, 30, tzinfo=UTC)
ENVS = ["staging", "production"]


def record(
    release_id: str,
    status: str,
    started_at: str,
    results: dict[str, tuple[str, str]],
    *,
    pushed_at: str | None = None,
) -> ReleaseHistory:
    """A release as the audit trail holds it: its record and its environments' results."""
    release = Release(
        release_id=release_id_for("web-app", DIGEST),
        pipeline="web-app",
        registry="123456789012.dkr.ecr.eu-west-2.amazonaws.com",
        repository="app-images",
        digest=DIGEST,
        pushed_at=datetime.fromisoformat(pushed_at) if pushed_at else None,
    )
    meta = ReleaseRecord(release_id, "web-app", status, started_at, ENVS, release)
    return ReleaseHistory(
        meta,
        {env: EnvironmentResult(release_id, "web-app", env, DIGEST, st, at) for env, (st, at) in results.items()},
    )


def scripted_series() -> list[ReleaseHistory]:
    return [
        # before the 30-day window (2024-05-31 .. 2024-06-30): ignored
        record(
            "r0",
            "SUCCEEDED",
            "2024-05-20T09:00:00+00:00",
            {
                "staging": ("SUCCEEDED", "2024-05-20T09:30:00+00:00"),
                "production": ("SUCCEEDED", "2024-05-20T10:00:00Z"),
            },
        ),
        # success, pushed an hour before slipway started it: lead from the push, 09:00 -> 12:00 = 3 h
        record(
            "r1",
            "SUCCEEDED",
            "2024-06-01T10:00:00+00:00",
            {"staging": ("SUCCEEDED", "2024-06-01T11:00:00Z"), "production": ("SUCCEEDED", "2024-06-01T12:00:00Z")},
            pushed_at="2024-06-01T09:00:00Z",
        ),
        # success, push time only: lead 08:00 -> 10:00 = 2 h
        record(
            "r2",
            "SUCCEEDED",
            "2024-06-05T08:01:00+00:00",
            {"staging": ("SUCCEEDED", "2024-06-05T09:00:00Z"), "production": ("SUCCEEDED", "2024-06-05T10:00:00Z")},
            pushed_at="2024-06-05T08:00:00Z",
        ),
        # production deployment failed (rolled back) at 12:00
        record(
            "r3",
            "FAILED",
            "2024-06-10T11:00:00+00:00",
            {"staging": ("SUCCEEDED", "2024-06-10T11:30:00Z"), "production": ("FAILED", "2024-06-10T12:00:00Z")},
            pushed_at="2024-06-10T11:00:00Z",
        ),
        # rejected at the production approval: never deployed to production, counts nowhere
        record(
            "r4",
            "REJECTED",
            "2024-06-10T13:00:00+00:00",
            {"staging": ("SUCCEEDED", "2024-06-10T13:20:00Z")},
            pushed_at="2024-06-10T13:00:00Z",
        ),
        # the fix: production success at 14:30 restores service (2 h 30 m after the failure); lead 30 m
        record(
            "r5",
            "SUCCEEDED",
            "2024-06-10T14:00:00+00:00",
            {"staging": ("SUCCEEDED", "2024-06-10T14:10:00Z"), "production": ("SUCCEEDED", "2024-06-10T14:30:00Z")},
            pushed_at="2024-06-10T14:00:00Z",
        ),
        # failed in staging: not a production deployment
        record(
            "r6",
            "FAILED",
            "2024-06-15T10:00:00+00:00",
            {"staging": ("FAILED", "2024-06-15T10:20:00Z")},
            pushed_at="2024-06-15T10:00:00Z",
        ),
        # success, no push time: lead from the release start, 09:00 -> 10:00 = 1 h
        record(
            "r7",
            "SUCCEEDED",
            "2024-06-20T09:00:00+00:00",
            {"staging": ("SUCCEEDED", "2024-06-20T09:30:00Z"), "production": ("SUCCEEDED", "2024-06-20T10:00:00Z")},
        ),
    ]


def test_each_figure_matches_the_hand_computed_value() -> None:
    figures = dora_figures(scripted_series(), now=NOW, days=30, pipeline="web-app")

    # r1, r2, r5, r7 reached production in the window
    assert figures.deployments == 4
    assert figures.deployment_frequency_per_day == pytest.approx(4 / 30)
    # lead times 3 h, 2 h, 30 m, 1 h -> sorted 1800, 3600, 7200, 10800
    assert figures.lead_time_samples == 4
    assert figures.lead_time_median_seconds == pytest.approx((3600 + 7200) / 2)
    assert figures.lead_time_mean_seconds == pytest.approx((10800 + 7200 + 1800 + 3600) / 4)
    # r3 failed out of 5 production deployments; r4 (rejected) and r6 (staging) are not production deployments
    assert figures.production_attempts == 5
    assert figures.change_failures == 1
    assert figures.change_failure_rate == pytest.approx(1 / 5)
    # failure 2024-06-10 12:00 -> next success 14:30
    assert figures.restores == 1
    assert figures.time_to_restore_median_seconds == pytest.approx(2.5 * 3600)
    assert figures.time_to_restore_mean_seconds == pytest.approx(2.5 * 3600)
    assert figures.open_incidents == 0
    assert figures.release_statuses == {"FAILED": 2, "REJECTED": 1, "SUCCEEDED": 4}


def test_a_rejection_changes_no_figure() -> None:
    series = scripted_series()
    without_rejection = [r for r in series if r.record.status != "REJECTED"]
    with_all = dora_figures(series, now=NOW, days=30).as_dict()
    without = dora_figures(without_rejection, now=NOW, days=30).as_dict()
    with_all.pop("release_statuses")
    without.pop("release_statuses")
    assert with_all == without


def test_the_window_is_respected() -> None:
    # 25 days back from 2024-06-30 starts 2024-06-05 00:00: r1 drops out
    figures = dora_figures(scripted_series(), now=NOW, days=25)
    assert figures.deployments == 3
    assert figures.lead_time_median_seconds == pytest.approx(3600)


def test_consecutive_failures_are_one_incident_from_the_first_failure() -> None:
    series = [
        record("a", "FAILED", "2024-06-01T09:00:00Z", {"production": ("FAILED", "2024-06-01T10:00:00Z")}),
        record("b", "FAILED", "2024-06-01T10:30:00Z", {"production": ("ROLLED_BACK", "2024-06-01T11:00:00Z")}),
        record("c", "SUCCEEDED", "2024-06-01T11:30:00Z", {"production": ("SUCCEEDED", "2024-06-01T13:00:00Z")}),
        record("d", "FAILED", "2024-06-02T09:00:00Z", {"production": ("FAILED", "2024-06-02T10:00:00Z")}),
    ]
    figures = dora_figures(series, now=NOW, days=30, production="production")
    assert figures.change_failures == 3
    assert figures.change_failure_rate == pytest.approx(3 / 4)
    assert figures.restores == 1
    assert figures.time_to_restore_median_seconds == pytest.approx(3 * 3600)  # 10:00 -> 13:00
    assert figures.open_incidents == 1


def test_no_production_deployments_gives_empty_figures() -> None:
    figures = dora_figures([], now=NOW, days=7)
    assert figures.deployments == 0
    assert figures.change_failure_rate is None
    assert figures.lead_time_median_seconds is None
    assert figures.time_to_restore_median_seconds is None


def test_production_defaults_to_each_release_s_last_environment() -> None:
    deployments = production_deployments(scripted_series())
    assert [d.release_id for d in deployments] == ["r0", "r1", "r2", "r3", "r5", "r7"]
    assert [d.change_source for d in deployments][1:] == ["push", "push", "push", "push", "start"]
    explicit = production_deployments(scripted_series(), production="staging")
    assert "r6" in [d.release_id for d in explicit if not d.succeeded]


def test_restore_times_of_nothing() -> None:
    assert restore_times([]) == ([], 0)


def test_days_must_be_positive() -> None:
    with pytest.raises(ValueError, match="days must be at least 1"):
        dora_figures([], now=NOW, days=0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (42, "42s"), (65, "1m 05s"), (3900, "1h 05m"), (2 * 86400 + 3 * 3600, "2d 3h")],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text
