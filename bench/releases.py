"""The release figures of `make bench`, measured on the embedded local cloud (slipway_dev.local.LocalCloud).

- state transitions and Lambda invocations per release (staging + approval + production), for a short and a long
  CodeDeploy bake: the waits are task tokens, so the figures must not change with the bake;
- AWS calls made by the intake for a duplicate ECR event (the same digest pushed again), and intake events per
  second (the ECR push handler called in-process against the local cloud's moto server);
- wall time of one local release end to end (push -> production succeeded, CodeDeploy delay 0).
"""

from __future__ import annotations

import importlib.util
import statistics
import threading
import time
from pathlib import Path
from typing import Any
from unittest import mock

from botocore.client import BaseClient

from slipway_dev.local.cloud import LocalCloud
from slipway_dev.local.demo import Demo, DemoOptions
from slipway_dev.local.events import ecr_push_event
from slipway_dev.local.handle import CloudHandle
from slipway_dev.local.images import image_manifest

ROOT = Path(__file__).resolve().parents[1]
INTAKE_FUNCTION = "EcrPushFunction"
SHORT_BAKE_SECONDS = 0.0
LONG_BAKE_SECONDS = 5.0
INTAKE_EVENTS = 60


def _release(cloud: LocalCloud) -> dict[str, Any]:
    options = DemoOptions(
        config_dir=ROOT / "config", state_dir=ROOT / ".slipway" / "bench", timeout=120, pipeline="web-app"
    )
    summary = Demo(CloudHandle(cloud.state()), options, say=lambda _line: None).run()
    by_function: dict[str, int] = summary["lambda_invocations_by_function"]
    if summary["status"] != "SUCCEEDED":
        raise RuntimeError(f"bench release did not succeed: {summary}")
    return {
        "state_transitions": summary["state_transitions"],
        # The intake runs once per push event, whatever the release does; it is reported apart.
        "lambda_invocations": sum(n for name, n in by_function.items() if name != INTAKE_FUNCTION),
        "intake_invocations": by_function.get(INTAKE_FUNCTION, 0),
        "wall_seconds": summary["wall_seconds"],
    }


class _CallCounter:
    """Counts botocore API calls made by one thread (the one running the handler), by operation."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.calls: list[str] = []
        self._original = BaseClient._make_api_call

    def __enter__(self) -> _CallCounter:
        counter = self

        def counting(client: BaseClient, operation: str, params: Any) -> Any:
            if threading.get_ident() == counter.thread:
                counter.calls.append(f"{client.meta.service_model.service_name}.{operation}")
            return counter._original(client, operation, params)

        self._patch = mock.patch.object(BaseClient, "_make_api_call", counting)
        self._patch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._patch.stop()


def _intake_handler() -> Any:
    path = ROOT / "functions" / "ecr_push" / "app.py"
    spec = importlib.util.spec_from_file_location("bench_ecr_push_app", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


class _Context:
    function_name = "EcrPushFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:EcrPushFunction"
    aws_request_id = "bench"


def _intake(cloud: LocalCloud) -> dict[str, Any]:
    """The intake alone: executions are recorded (RUNNING, as on AWS) but their interpretation is not started,
    so the 60 new releases do not compete with the handler for the CPU."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import Execution

    def record_only(execution: Execution) -> None:
        execution.exec_status = ExecutionStatus.RUNNING

    with mock.patch.object(Execution, "start", record_only):
        return _intake_loops(cloud)


def _intake_loops(cloud: LocalCloud) -> dict[str, Any]:
    handler = _intake_handler()
    ecr = cloud.client("ecr")
    digests = []
    for n in range(INTAKE_EVENTS):
        image = ecr.put_image(
            repositoryName="app-images", imageManifest=image_manifest(f"bench-{n}"), imageTag=f"{n:040x}"
        )["image"]
        digests.append(image["imageId"]["imageDigest"])
    events = [ecr_push_event("app-images", digest, f"{n:040x}", cloud.region) for n, digest in enumerate(digests)]
    with _CallCounter() as counter:
        started = time.perf_counter()
        for event in events:
            handler(event, _Context())
        new_seconds = time.perf_counter() - started
        new_calls = len(counter.calls)
        counter.calls.clear()
        started = time.perf_counter()
        for event in events:  # the same events again: every one is a duplicate delivery
            handler(event, _Context())
        duplicate_seconds = time.perf_counter() - started
        duplicate_calls = list(counter.calls)
    return {
        "aws_calls_per_duplicate_event": round(len(duplicate_calls) / len(events), 2),
        "aws_calls_per_duplicate_event_operations": sorted(set(duplicate_calls)),
        "aws_calls_per_new_event": round(new_calls / len(events), 2),
        "intake_events_per_second": {
            "new": round(len(events) / new_seconds, 1),
            "duplicate": round(len(events) / duplicate_seconds, 1),
        },
    }


def measure_releases() -> dict[str, Any]:
    results: dict[str, Any] = {}
    releases: dict[str, dict[str, Any]] = {}
    for label, bake in (("short_bake", SHORT_BAKE_SECONDS), ("long_bake", LONG_BAKE_SECONDS)):
        with LocalCloud(codedeploy_delay=bake, time_scale=0.0, log_level="ERROR") as cloud:
            releases[label] = _release(cloud)
            if label == "short_bake":
                # The first release also imports every handler module (a cold start of each function).
                results["local_release_seconds_first"] = releases[label]["wall_seconds"]
                walls = [_release(cloud)["wall_seconds"] for _ in range(3)]
                results["local_release_seconds"] = round(statistics.median(walls), 2)
                results.update(_intake(cloud))
    results["state_transitions_per_release"] = {k: v["state_transitions"] for k, v in releases.items()}
    results["lambda_invocations_per_release"] = {k: v["lambda_invocations"] for k, v in releases.items()}
    results["intake_invocations_per_push"] = releases["short_bake"]["intake_invocations"]
    results["bake_seconds"] = {"short_bake": SHORT_BAKE_SECONDS, "long_bake": LONG_BAKE_SECONDS}
    return results
