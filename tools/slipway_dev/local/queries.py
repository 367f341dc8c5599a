"""Reading a running local cloud back, as tests, the demo and the benchmark do: executions (by release id or ARN),
their histories and billed state transitions, CodeDeploy deployments, Slack messages, and waiting for a condition.
``LocalCloud`` has these methods through ``CloudQueries``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from slipway_dev.local.base import World, wait_for


class CloudQueries:
    world: World
    slack: Any

    def client(self, service: str) -> Any:
        raise NotImplementedError

    @property
    def state_machine_arn(self) -> str:
        return self.world.state_machine_arns["ReleaseStateMachine"]

    def execution_arn(self, release_id_or_arn: str) -> str:
        if release_id_or_arn.startswith("arn:"):
            return release_id_or_arn
        prefix = self.state_machine_arn.replace(":stateMachine:", ":execution:")
        return f"{prefix}:{release_id_or_arn}"

    def describe_execution(self, release_id_or_arn: str) -> dict[str, Any] | None:
        sfn = self.client("stepfunctions")
        try:
            return dict(sfn.describe_execution(executionArn=self.execution_arn(release_id_or_arn)))
        except sfn.exceptions.ExecutionDoesNotExist:
            return None

    def wait_for_execution(
        self,
        release_id_or_arn: str,
        timeout: float = 30.0,
        until: Iterable[str] = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"),
    ) -> dict[str, Any]:
        """Poll until the execution exists and reaches one of ``until`` (default: any end state)."""
        wanted = set(until)
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            last = self.describe_execution(release_id_or_arn)
            if last is not None and last["status"] in wanted:
                return last
            time.sleep(0.05)
        state = last["status"] if last else "not started"
        raise TimeoutError(f"execution {release_id_or_arn} still {state} after {timeout}s")

    def wait_for(self, predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
        return wait_for(predicate, timeout, what)

    def execution_history(self, release_id_or_arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        paginator = sfn.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=self.execution_arn(release_id_or_arn)):
            events.extend(page["events"])
        return events

    def state_transitions(self, release_id_or_arn: str) -> int:
        """Billed state transitions of a Standard workflow = its ``...StateEntered`` history events."""
        return sum(1 for e in self.execution_history(release_id_or_arn) if e["type"].endswith("StateEntered"))

    @property
    def slack_messages(self) -> list[dict[str, Any]]:
        return list(self.slack.messages)

    def deployments(self) -> list[dict[str, Any]]:
        codedeploy = self.client("codedeploy")
        ids = codedeploy.list_deployments().get("deployments", [])
        if not ids:
            return []
        found = codedeploy.batch_get_deployments(deploymentIds=ids).get("deploymentsInfo", [])
        return sorted(found, key=lambda d: d.get("createTime") or 0)
