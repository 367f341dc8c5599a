"""One stand-in for every function of the template, for tests of the local cloud itself (not of slipway).

``LocalCloud(handler_file=<this file>)`` runs every function from here; ``context.function_name`` (the logical id)
tells them apart. Each invocation is recorded as ``$SLIPWAY_RECORDER_DIR/<logical id>/<time>-<id>.json`` (the event
and the context the handler got, so tests can read what an asynchronous delivery carried; written whole, then
renamed, so a reader never sees half a file), then the event's instruction, if any, is carried out:

- ``{"recorder": {"raise": "KeyError", "message": "..."}}`` raises an exception of that class name (an unhandled
  error, as Lambda reports it);
- ``{"recorder": {"raise": ..., "times": N}}`` raises only on the first N invocations of this function.

The instruction is found at the event's top level, in an EventBridge event's ``detail``, in an SNS message (JSON),
or in an HTTP request's ``x-recorder`` header (JSON). An HTTP API event is answered as a proxy integration with
the recorded invocation as the JSON body; any other returns the recorded invocation.
"""

import json
import os
import time
import uuid
from pathlib import Path


def lambda_handler(event, context):
    folder = Path(os.environ["SLIPWAY_RECORDER_DIR"]) / context.function_name
    folder.mkdir(parents=True, exist_ok=True)
    seen = len(list(folder.glob("*.json")))
    record = {
        "function": context.function_name,
        "arn": context.invoked_function_arn,
        "request_id": context.aws_request_id,
        "memory_mb": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "log_group": context.log_group_name,
        "event": event,
    }
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    partial = folder / f"{name}.partial"
    partial.write_text(json.dumps(record, default=str))
    partial.replace(folder / f"{name}.json")
    instruction = _instruction(event)
    if "raise" in instruction and seen < int(instruction.get("times", 1_000_000)):
        raise type(instruction["raise"], (Exception,), {})(instruction.get("message", "raised as asked"))
    if isinstance(event, dict) and "routeKey" in event:
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(record)}
    return record


def _instruction(event):
    if not isinstance(event, dict):
        return {}
    if isinstance(event.get("recorder"), dict):
        return event["recorder"]
    if isinstance(event.get("detail"), dict) and isinstance(event["detail"].get("recorder"), dict):
        return event["detail"]["recorder"]
    for record in event.get("Records") or []:
        message = json.loads((record.get("Sns") or {}).get("Message") or "{}")
        if isinstance(message, dict) and isinstance(message.get("recorder"), dict):
            return message["recorder"]
    header = (event.get("headers") or {}).get("x-recorder")
    return json.loads(header) if header else {}
