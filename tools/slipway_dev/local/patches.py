"""The moto patches that make moto run the template's functions (moto 5.2.5; undone when the cloud stops):

- the Lambda dispatcher: ``LambdaSimpleBackend.invoke`` runs the real handler in-process (state machine tasks,
  ``lambda invoke``); an exception comes back as ``FunctionError: Unhandled`` + ``errorType``; an ``Event``
  invocation runs asynchronously, retried per EventInvokeConfig, then sent to its OnFailure queue;
- EventBridge -> Lambda routing: ``Rule.send_to_targets`` invokes the Lambda targets moto cannot deliver to;
- SNS delivery: ``send_sns_message`` invokes the subscribed function with SNS's event;
- scaled waits and retries: Step Functions Wait states and Retry intervals take ``time_scale`` x their time;
- one DynamoDB request at a time: moto's TransactWriteItems snapshots whole tables and restores them when a
  condition fails, which would drop other threads' writes made meanwhile (AWS isolates each item); serialized,
  a cancelled transaction loses nothing but itself.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from unittest import mock

from slipway_dev.local.accounts import forward_to_bus
from slipway_dev.local.base import LocalCloudError
from slipway_dev.local.events import sns_event
from slipway_dev.local.handlers import FunctionSpec

if TYPE_CHECKING:
    from slipway_dev.local.cloud import LocalCloud


@dataclass
class AsyncTarget:
    """A function invoked asynchronously (EventBridge, SNS, ``Event`` invocations) and its EventInvokeConfig."""

    spec: FunctionSpec
    max_retries: int = 2
    on_failure_queue_arn: str | None = None


def configure_moto(stack: contextlib.ExitStack) -> None:
    """Turn on moto's Step Functions interpreter and in-process Lambda (restored when ``stack`` closes)."""
    from moto.core.config import default_user_config

    saved = {key: copy.deepcopy(default_user_config.get(key)) for key in ("stepfunctions", "lambda")}

    def restore() -> None:
        for key, value in saved.items():
            default_user_config[key] = value  # type: ignore[literal-required]

    stack.callback(restore)
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    default_user_config["lambda"] = {"use_docker": False}


def invoke_async(cloud: LocalCloud, target: AsyncTarget, event: Any) -> None:
    """Lambda's asynchronous invocation: retried per EventInvokeConfig, then sent to the OnFailure queue."""

    def run() -> None:
        result = None
        for attempt in range(target.max_retries + 1):
            if cloud.stopping.is_set():
                return
            result = cloud.run(target.spec, event)
            if result.error is None:
                return
            if attempt < target.max_retries:
                time.sleep(min(1.0, 0.2 * cloud.time_scale))
        assert result is not None and result.error is not None
        failure = {"function": target.spec.logical_id, "error": result.error, "event": event}
        with cloud.lock:
            cloud.async_errors.append(failure)
        if target.on_failure_queue_arn and not cloud.stopping.is_set():
            with contextlib.suppress(Exception):
                send_to_queue(cloud, target.on_failure_queue_arn, failure)

    cloud.start_thread(run, f"async-{target.spec.logical_id}")


def send_to_queue(cloud: LocalCloud, queue_arn: str, body: dict[str, Any]) -> None:
    name = queue_arn.rsplit(":", 1)[1]
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body, default=str))


class ScaledTime:
    """Stands in for the ``time`` module inside moto's retrier: Retry intervals sleep ``time_scale`` x as long."""

    def __init__(self, cloud: LocalCloud) -> None:
        self._cloud = cloud

    def sleep(self, seconds: float) -> None:
        scaled = seconds * self._cloud.time_scale
        if scaled > 0:
            self._cloud.stopping.wait(scaled)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def moto_patches(cloud: LocalCloud) -> list[Any]:
    """The patches of this module, bound to ``cloud`` (entered and undone by the cloud)."""
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.events.models import Rule
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    def lambda_invoke(
        backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        fn = backend.get_function(function_name, qualifier)  # unknown function -> ResourceNotFound, as AWS
        spec = cloud.specs.get(fn.function_name)
        if spec is None:
            raise LocalCloudError(f"{fn.function_name} is not a function of the template")
        event = json.loads(body) if body else {}
        if (headers.get("X-Amz-Invocation-Type") or "") == "Event":
            invoke_async(cloud, AsyncTarget(spec=spec, max_retries=2), event)
            return b""
        result = cloud.run(spec, event)
        if result.error is not None:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(result.error).encode("utf-8")
        return json.dumps(result.payload, default=str).encode("utf-8")

    def send_sns_message(
        backend: Any, function_name: str, message: str, subject: str | None = None, qualifier: str | None = None
    ) -> None:
        target = cloud.async_targets.get(function_name)
        if target is None:
            return
        topic_arn = cloud.sns_topics.get(function_name, "")
        invoke_async(cloud, target, sns_event(topic_arn, message, subject, cloud.region))

    original_send = Rule.send_to_targets

    def send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
        lambda_targets = [t for t in rule.targets if ":lambda:" in t["Arn"]]
        buses = [t for t in rule.targets if ":event-bus/" in t["Arn"]]
        others = [t for t in rule.targets if t not in lambda_targets and t not in buses]
        if (lambda_targets or buses) and rule.event_pattern.matches_event(original_event):
            for target in lambda_targets:
                name = target["Arn"].split(":function:", 1)[1].split(":")[0]
                if name in cloud.async_targets:
                    invoke_async(cloud, cloud.async_targets[name], json.loads(json.dumps(original_event)))
            for target in buses:
                forward_to_bus(target["Arn"], original_event)
        if others:
            clone = copy.copy(rule)
            clone.targets = others
            original_send(clone, original_event, transform_input)

    original_wait = WaitFunction._wait_interval

    def wait_interval(fn: Any, env: Any, wait_seconds: int) -> None:
        original_wait(fn, env, int(wait_seconds * cloud.time_scale))

    dynamodb_lock = threading.Lock()
    original_call_action = DynamoHandler.call_action

    def dynamodb_call_action(handler: Any) -> Any:
        with dynamodb_lock:
            return original_call_action(handler)

    return [
        mock.patch.object(DynamoHandler, "call_action", dynamodb_call_action),
        mock.patch.object(LambdaSimpleBackend, "invoke", lambda_invoke),
        mock.patch.object(LambdaSimpleBackend, "send_sns_message", send_sns_message),
        mock.patch.object(Rule, "send_to_targets", send_to_targets),
        mock.patch.object(retrier_decl, "time", ScaledTime(cloud)),
        mock.patch.object(WaitFunction, "_wait_interval", wait_interval),
    ]
