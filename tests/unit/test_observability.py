"""Correlation ids, metric names and the lazily created Tracer."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from slipway import observability
from slipway.observability import (
    METRIC_UNITS,
    RELEASES_FAILED,
    emit,
    emit_release_status,
    instrument,
    logger,
    metrics,
    release_id_from,
)


@dataclass
class LambdaContext:
    function_name: str = "slipway-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-2:123456789012:function:slipway-test"
    aws_request_id: str = "req-1"


def test_the_documented_metric_names() -> None:
    assert set(METRIC_UNITS) == {
        "ReleasesStarted",
        "ReleasesSucceeded",
        "ReleasesFailed",
        "ReleasesRejected",
        "ReleasesExpired",
        "ReleasesSuperseded",
        "ApprovalWaitSeconds",
        "LeadTimeSeconds",
        "DuplicateReleaseIgnored",
        "MalformedEvent",
        "EventIgnored",
    }


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"release": {"release_id": "web-app-abc"}, "environment": "staging"}, "web-app-abc"),
        ({"plan": {"release_id": "web-app-def"}}, "web-app-def"),
        ({"check_deployment": {"release": {"release_id": "web-app-ghi"}}}, "web-app-ghi"),
        ({"release_id": "web-app-jkl"}, "web-app-jkl"),
        ({"detail": {"repository-name": "app-images"}}, None),
        ("not a mapping", None),
    ],
)
def test_release_id_from_every_event_shape(event: Any, expected: str | None) -> None:
    assert release_id_from(event) == expected


def test_instrument_sets_the_release_id_as_correlation_id_and_flushes_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: dict[str, Any] = {}
    metrics.clear_metrics()  # other tests may have left metrics in the module-wide Metrics

    @instrument(trace=False)
    def handler(event: dict[str, Any], context: Any) -> str:
        seen["correlation_id"] = logger.get_correlation_id()
        emit_release_status("failed")
        return "done"

    assert handler({"release": {"release_id": "web-app-0123"}}, LambdaContext()) == "done"
    assert seen["correlation_id"] == "web-app-0123"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf, "metrics were not flushed"
    directive = emf[-1]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Slipway"
    assert [m["Name"] for m in directive["Metrics"]] == [RELEASES_FAILED]
    assert emf[-1]["service"] == "slipway"  # the dimension the FailedReleasesAlarm matches


def test_a_new_invocation_does_not_inherit_the_previous_release_id() -> None:
    seen: list[str | None] = []

    @instrument(trace=False)
    def handler(event: dict[str, Any], context: Any) -> None:
        seen.append(logger.get_correlation_id())
        emit("EventIgnored")  # keeps Powertools from warning about an empty flush

    handler({"release_id": "first"}, LambdaContext())
    handler({"detail": {}}, LambdaContext())
    assert seen == ["first", None]


def test_unknown_metric_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown metric 'ReleasesExploded'"):
        emit("ReleasesExploded")
    with pytest.raises(ValueError, match="no metric for release status 'RUNNING'"):
        emit_release_status("RUNNING")


def test_the_tracer_is_not_created_at_import() -> None:
    # In a child process: creating a Tracer opens sockets (X-Ray), which unit tests forbid.
    code = (
        "import slipway.observability as o; print(o._tracer is None); "
        "from slipway.observability import tracer; print(tracer is o.get_tracer())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True"]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        observability.__getattr__("nothing")
