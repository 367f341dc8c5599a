"""Correlation ids, metric names and the lazily created Tracer."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

from slipway import observability
from slipway.observability import (
    MALFORMED_EVENT,
    METRIC_UNITS,
    RELEASES_FAILED,
    emit,
    emit_release_status,
    instrument,
    logger,
    metrics,
    release_id_from,
)
from tests.support.handlers import LambdaContext
from tests.support.logs import emf_documents, json_logs
from tests.support.paths import FUNCTIONS, ROOT


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
        "UnknownRepositoryIgnored",
        "TagMismatchIgnored",
        "CodePipelineJobContinued",
        "CodePipelineJobSucceeded",
        "CodePipelineJobFailed",
    }


def test_every_metric_is_documented_with_its_unit_and_nothing_else_is() -> None:
    doc = (ROOT / "docs" / "observability.md").read_text()
    section = doc.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| (\w+) \|", section, flags=re.MULTILINE))
    assert rows == {name: unit.value for name, unit in METRIC_UNITS.items()}


def test_the_readme_lists_every_metric_and_no_other() -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Observability", 1)[1].split("\n## ", 1)[0]
    names = section.split("(dimension `service=slipway`):", 1)[1].split("(definitions in", 1)[0]
    assert set(re.findall(r"`([A-Za-z]+)`", names)) == set(METRIC_UNITS)


def test_no_code_adds_a_metric_around_the_documented_constants() -> None:
    package = ROOT / "layers" / "slipway" / "slipway"
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "observability.py" and re.search(r"add_metric\(|metrics\.|MetricUnit", path.read_text())
    ]
    assert offenders == []


def test_every_handler_is_instrumented_and_its_import_leaves_out_the_xray_sdk() -> None:
    # A child process: a fresh sys.modules per handler shows what importing that module alone pulls in.
    code = """
import importlib.util, json, sys
from pathlib import Path
path = Path(sys.argv[1])
spec = importlib.util.spec_from_file_location("app", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
marker = getattr(module.lambda_handler, "__slipway_instrumented__", None)
heavy = sorted(m for m in ("aws_xray_sdk", "slack_sdk", "yaml") if m in sys.modules)
print(json.dumps({"marker": marker, "heavy": heavy}))
"""
    seen = {}
    for app in sorted(FUNCTIONS.glob("*/app.py")):
        out = subprocess.run([sys.executable, "-c", code, str(app)], capture_output=True, text=True, check=True)
        seen[app.parent.name] = json.loads(out.stdout)
    assert len(seen) == 9
    for name, found in seen.items():
        assert found["marker"] == {"trace": name != "slack_interactions"}, name
        assert "aws_xray_sdk" not in found["heavy"], name
        assert "slack_sdk" not in found["heavy"], name


def test_a_handler_without_a_lambda_context_still_logs_and_flushes(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.clear_metrics()

    @instrument(trace=False)
    def handler(event: dict[str, Any], context: Any) -> None:
        logger.info("inside")
        emit(MALFORMED_EVENT)
        raise ValueError("boom")

    with json_logs() as logs, pytest.raises(ValueError, match="boom"):
        handler({"release_id": "web-app-0456"}, None)
    [log] = [line for line in logs.lines() if line.get("message") == "inside"]
    assert log["correlation_id"] == "web-app-0456" and log["release_id"] == "web-app-0456"
    assert log["function_name"] == "local"
    [emf] = emf_documents(capsys.readouterr().out)  # flushed although the handler raised
    assert emf[MALFORMED_EVENT] in (1.0, [1.0])
    assert not metrics.metric_set


def test_an_invocation_that_counted_nothing_prints_no_metrics_and_no_warning(
    capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    metrics.clear_metrics()
    instrument(trace=False)(lambda event, context: None)({}, LambdaContext())
    assert '"_aws"' not in capsys.readouterr().out
    assert not [w for w in recwarn if "No application metrics" in str(w.message)]


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
