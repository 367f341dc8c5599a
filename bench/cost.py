"""The `cost_per_release_usd` figure of `make bench`: the quantities one release uses, measured on the embedded local
cloud at the template's default log level (INFO), times the dated price table of ``bench.prices``, beside the
seed's CodePipeline V2 + CodeBuild design for a release of the same shape.

The release is the demo's (`config/`'s web-app: staging, a Slack approval clicked as a signed request, production),
measured after a first release has imported every handler (a warm release; cold starts are reported apart).
Measured, per release:

- Lambda: each invocation's duration in the in-process dispatcher, rounded up to the millisecond (Lambda's
  billing), times the function's ``MemorySize`` from template.yaml; one request each;
- Step Functions: the ``...StateEntered`` events of the execution's history (Standard bills state transitions);
- DynamoDB: each call a function made, by item size as DynamoDB counts it (write: 1 unit per KB of the larger of
  the item before and after, at least 1; read: 1 unit per 4 KB, half for an eventually consistent read;
  transactions twice), the sizes read from moto's tables around each call (moto's own ``ConsumedCapacity`` is a
  constant);
- API Gateway: the Slack callback's requests; Secrets Manager, S3: the functions' calls (after caching);
- EventBridge: the events delivered to functions (ECR's and CodeDeploy's are AWS service events; CloudTrail's
  ``PutImage`` record is priced as a custom event) and any the functions put;
- CloudWatch Logs: every byte the functions wrote (Powertools' JSON log lines and EMF metrics) plus 26 bytes per
  event (CloudWatch's per-event size), and Lambda's START/END/REPORT lines and the HTTP API's access log line,
  built in their documented formats;
- X-Ray: one trace per invocation not started by the state machine (the execution's steps join its trace).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.prices import PRICES_AS_OF, PRICES_USD, REGION, seed_release_cost
from slipway_dev.iam.recorder import acting_function
from slipway_dev.local.cloud import LocalCloud
from slipway_dev.local.demo import Demo, DemoOptions
from slipway_dev.local.handle import CloudHandle

ROOT = Path(__file__).resolve().parents[1]
GOAL_USD = 0.0003
GOAL_LOG_BYTES = 20 * 1024
CLOUDWATCH_EVENT_OVERHEAD = 26
INTAKE_FUNCTION = "EcrPushFunction"
CALLBACK_FUNCTION = "SlackInteractionsFunction"
EVENT_FUNCTIONS = {INTAKE_FUNCTION: "aws_service", "DeploymentEventsFunction": "aws_service"}
REQUEST_ID = "8f5b6c1e-1a2b-4c3d-9e8f-0a1b2c3d4e5f"


def _platform_log_lines(billed_ms: int, memory_mb: int) -> list[str]:
    """Lambda's own lines for one invocation, in their documented format (X-Ray active: the REPORT line says so)."""
    return [
        f"START RequestId: {REQUEST_ID} Version: $LATEST",
        f"END RequestId: {REQUEST_ID}",
        f"REPORT RequestId: {REQUEST_ID}\tDuration: {billed_ms - 0.5:.2f} ms\tBilled Duration: {billed_ms} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: {min(memory_mb, 128)} MB\t\n"
        "XRAY TraceId: 1-67a0b1c2-0123456789abcdef01234567\tSegmentId: 0123456789abcdef\tSampled: true\t",
    ]


ACCESS_LOG_LINE = (  # template.yaml's SlackApi AccessLogSettings format, with a request's values
    '{"requestId":"Ab1Cd2Ef3Gh4=","ip":"3.120.10.20","time":"02/Dec/2026:01:02:03 +0000",'
    '"route":"POST /slack/interactions","status":"200","latency":"412"}'
)


class _LogBytes(io.TextIOBase):
    """A stream that counts what is written to it: bytes (UTF-8) and lines (log events)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.events = 0
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.bytes += len(text.encode("utf-8"))
            self.events += text.count("\n")
        return len(text)


class _DynamoUnits:
    """Read and write units of the DynamoDB calls functions make, by item size (see the module docstring)."""

    WRITES = {"PutItem", "UpdateItem", "DeleteItem"}

    def __init__(self, cloud: LocalCloud) -> None:
        from moto.dynamodb.models import dynamodb_backends

        self.backend = dynamodb_backends[cloud.account][cloud.region]
        self.read_units = 0.0
        self.write_units = 0.0
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _size(self, table_name: str, key: dict[str, Any]) -> int:
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = self.backend.get_table(table_name)
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        item = table.get_item(hash_key, range_key)
        return item.size() if item is not None else 0

    @staticmethod
    def _item_size(item: dict[str, Any]) -> int:
        from moto.dynamodb.models.dynamo_type import DynamoType
        from moto.dynamodb.models.utilities import bytesize

        return sum(bytesize(name) + DynamoType(value).size() for name, value in item.items())

    def _writes(self, operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        if operation in self.WRITES:
            key = params.get("Key") or self._key_of(params["TableName"], params["Item"])
            return [(params["TableName"], key)]
        if operation == "TransactWriteItems":
            found = []
            for entry in params["TransactItems"]:
                (_kind, action), *_ = entry.items()
                key = action.get("Key") or self._key_of(action["TableName"], action["Item"])
                found.append((action["TableName"], key))
            return found
        return []

    def _key_of(self, table_name: str, item: dict[str, Any]) -> dict[str, Any]:
        table = self.backend.get_table(table_name)
        names = [table.hash_key_attr, *([table.range_key_attr] if table.range_key_attr else [])]
        return {name: item[name] for name in names}

    def before(self, operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], int]]:
        return [(table, key, self._size(table, key)) for table, key in self._writes(operation, params)]

    def after(
        self, operation: str, params: dict[str, Any], parsed: dict[str, Any], before: list[tuple[str, Any, int]]
    ) -> None:
        writes = reads = 0.0
        factor = 2 if operation.startswith("Transact") else 1
        for table, key, size_before in before:
            size = max(size_before, self._size(table, key))
            writes += factor * max(1, math.ceil(size / 1024))
        eventual = 0.5 if not params.get("ConsistentRead") else 1.0
        if operation == "GetItem":
            reads += eventual * max(1, math.ceil(self._item_size(parsed.get("Item") or {}) / 4096))
        elif operation == "Query":
            total = sum(self._item_size(item) for item in parsed.get("Items") or [])
            reads += eventual * max(1, math.ceil(total / 4096))
        elif operation == "TransactGetItems":
            for response in parsed.get("Responses") or []:
                reads += 2 * max(1, math.ceil(self._item_size(response.get("Item") or {}) / 4096))
        with self._lock:
            self.write_units += writes
            self.read_units += reads
            self.calls[operation] += 1


class _Meter:
    """Installed before the local cloud starts (botocore gives its hooks to sessions created afterwards); while
    ``measuring()``: the functions' DynamoDB units, their AWS calls by service and operation, their log output."""

    PARAMS = "slipway_bench_params"
    BEFORE = "slipway_bench_before"

    def __init__(self) -> None:
        import botocore.handlers

        self.enabled = False
        self.units: _DynamoUnits | None = None
        self.calls: Counter[str] = Counter()
        self.logs = _LogBytes()
        self._hooks = [
            ("provide-client-params.*.*", self._keep_params),
            ("before-call.*.*", self._before_call),
            ("after-call.dynamodb.*", self._after_call),
        ]
        botocore.handlers.BUILTIN_HANDLERS.extend(self._hooks)

    def uninstall(self) -> None:
        import botocore.handlers

        for hook in self._hooks:
            botocore.handlers.BUILTIN_HANDLERS.remove(hook)

    def _keep_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if self.enabled and acting_function() is not None:
            context[self.PARAMS] = dict(params)

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        params = context.get(self.PARAMS)
        if params is None:
            return
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1
        if self.units is not None and model.service_model.service_name == "dynamodb":
            context[self.BEFORE] = self.units.before(model.name, params)

    def _after_call(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params = context.pop(self.PARAMS, None)
        if params is not None and self.units is not None:
            self.units.after(model.name, params, parsed, context.pop(self.BEFORE, []))

    @contextlib.contextmanager
    def measuring(self, cloud: LocalCloud) -> Any:
        self.units = _DynamoUnits(cloud)
        self.calls.clear()
        self.logs = _LogBytes()
        handlers = [h for h in logging.getLogger("slipway").handlers if isinstance(h, logging.StreamHandler)]
        streams = [h.setStream(self.logs) for h in handlers]
        self.enabled = True
        try:
            with contextlib.redirect_stdout(self.logs):  # Powertools prints EMF metrics
                yield self
        finally:
            self.enabled = False
            for handler, stream in zip(handlers, streams, strict=True):
                handler.setStream(stream)


TRACE_ROOTS = {INTAKE_FUNCTION, CALLBACK_FUNCTION, "DeploymentEventsFunction"}  # invoked by an event or a request


def _demo(cloud: LocalCloud) -> dict[str, Any]:
    options = DemoOptions(
        config_dir=cloud.config_dir, state_dir=ROOT / ".slipway" / "bench", timeout=120, pipeline="web-app"
    )
    summary = Demo(CloudHandle(cloud.state()), options, say=lambda _line: None).run()
    if summary["status"] != "SUCCEEDED":
        raise RuntimeError(f"cost release did not succeed: {summary}")
    deadline = time.monotonic() + 30  # the intake's CloudTrail event may still be in flight
    while cloud.runner.in_flight() and time.monotonic() < deadline:
        time.sleep(0.05)
    return summary


def _quantities(
    cloud: LocalCloud, summary: dict[str, Any], invoked: list[tuple[str, Any, float]], meter: _Meter
) -> dict[str, Any]:
    billed = [(fn, max(1, math.ceil(seconds * 1000)), cloud.specs[fn].memory_mb) for fn, _, seconds in invoked]
    by_function = Counter(fn for fn, _, _ in invoked)
    detail_types = Counter(
        str(event.get("detail-type")) for fn, event, _ in invoked if fn in EVENT_FUNCTIONS and isinstance(event, dict)
    )
    cloudtrail_events = detail_types.get("AWS API Call via CloudTrail", 0)
    api_requests = by_function.get(CALLBACK_FUNCTION, 0)
    platform = [line for _, ms, mb in billed for line in _platform_log_lines(ms, mb)]
    function_bytes = meter.logs.bytes + CLOUDWATCH_EVENT_OVERHEAD * meter.logs.events
    platform_bytes = sum(len(line.encode()) + CLOUDWATCH_EVENT_OVERHEAD for line in platform)
    access_bytes = api_requests * (len(ACCESS_LOG_LINE) + CLOUDWATCH_EVENT_OVERHEAD)
    units = meter.units
    assert units is not None
    calls = meter.calls
    return {
        "lambda_invocations": len(billed),
        "lambda_invocations_by_function": dict(sorted(by_function.items())),
        "lambda_billed_ms": sum(ms for _, ms, _ in billed),
        "lambda_gb_seconds": round(sum(ms / 1000 * mb / 1024 for _, ms, mb in billed), 4),
        "state_transitions": summary["state_transitions"],
        "dynamodb_write_units": units.write_units,
        "dynamodb_read_units": units.read_units,
        "dynamodb_calls": dict(sorted(units.calls.items())),
        "http_api_requests": api_requests,
        "secretsmanager_calls": sum(n for call, n in calls.items() if call.startswith("secretsmanager.")),
        "s3_get_requests": calls.get("s3.GetObject", 0),
        "s3_list_requests": calls.get("s3.ListObjectsV2", 0),
        "eventbridge_aws_service_events": sum(detail_types.values()) - cloudtrail_events,
        "eventbridge_custom_events": cloudtrail_events + calls.get("events.PutEvents", 0),
        "log_bytes": {
            "functions": function_bytes,
            "lambda_platform": platform_bytes,
            "http_api_access": access_bytes,
            "total": function_bytes + platform_bytes + access_bytes,
        },
        "log_events": meter.logs.events,
        "xray_traces": sum(n for fn, n in by_function.items() if fn in TRACE_ROOTS),
        "aws_calls": dict(sorted(calls.items())),
    }


def _priced(q: dict[str, Any]) -> dict[str, float]:
    p = PRICES_USD
    return {
        "lambda_duration": q["lambda_gb_seconds"] * p["lambda_arm64_gb_second"],
        "lambda_requests": q["lambda_invocations"] * p["lambda_request"],
        "step_functions": q["state_transitions"] * p["sfn_standard_state_transition"],
        "dynamodb": q["dynamodb_write_units"] * p["dynamodb_on_demand_write_unit"]
        + q["dynamodb_read_units"] * p["dynamodb_on_demand_read_unit"],
        "api_gateway": q["http_api_requests"] * p["http_api_request"],
        "secrets_manager": q["secretsmanager_calls"] * p["secretsmanager_api_call"],
        "eventbridge": q["eventbridge_aws_service_events"] * p["eventbridge_aws_service_event"]
        + q["eventbridge_custom_events"] * p["eventbridge_custom_event"],
        "cloudwatch_logs": q["log_bytes"]["total"] / 1e9 * p["cloudwatch_logs_ingested_gb"],
        "xray": q["xray_traces"] * p["xray_trace_recorded"],
        "s3": q["s3_get_requests"] * p["s3_get_request"] + q["s3_list_requests"] * p["s3_list_request"],
    }


def measure_cost() -> dict[str, Any]:
    import slipway.observability  # noqa: F401 - its log handler keeps the real stdout, swapped only while measuring

    meter = _Meter()
    invoked: list[tuple[str, Any, float]] = []
    try:
        with LocalCloud(codedeploy_delay=0.0, time_scale=0.0, log_level="INFO") as cloud:
            record = cloud.runner._on_invoke

            def keep(function: str, event: Any, result: Any, seconds: float) -> None:
                invoked.append((function, event, seconds))
                if record is not None:
                    record(function, event, result, seconds)

            cloud.runner._on_invoke = keep
            with meter.measuring(cloud):  # the first release: every handler's cold start, not counted
                _demo(cloud)
            invoked.clear()
            with meter.measuring(cloud):
                summary = _demo(cloud)
            quantities = _quantities(cloud, summary, list(invoked), meter)
    finally:
        meter.uninstall()
    by_item = _priced(quantities)
    total = sum(by_item.values())
    seed = seed_release_cost()
    return {
        "cost_per_release_usd": {
            "slipway": round(total, 7),
            "seed_codepipeline_v2_codebuild": seed["total_usd"],
            "seed_deploy_orchestration_only": seed["deploy_orchestration_usd"],
        },
        "log_bytes_per_release": quantities["log_bytes"]["total"],
        "cost_per_release": {
            "quantities": quantities,
            "usd_by_item": {k: round(v, 8) for k, v in by_item.items()},
            "prices": {"as_of": PRICES_AS_OF, "region": REGION, "usd": PRICES_USD},
            "seed": seed,
            "goal_usd": GOAL_USD,
            "goal_log_bytes": GOAL_LOG_BYTES,
        },
    }


if __name__ == "__main__":  # `python -m bench.cost`: this figure alone
    import json

    json.dump(measure_cost(), sys.stdout, indent=2)
    print()
