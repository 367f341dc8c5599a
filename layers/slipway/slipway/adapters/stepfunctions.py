"""Starting and following release executions (Step Functions).

The execution name is the release id, so Step Functions refuses a second execution of a release:
- a different input (another tag of the same digest, another delivery) -> ExecutionAlreadyExists: duplicate;
- the same name AND the same input while the execution runs (an exact redelivery) -> AWS returns the running
  execution (idempotent StartExecution). Its ``startDate`` then predates this call, which is how it is told
  apart from a new execution without a second call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from slipway.domain.intake import ExecutionState, StartOutcome
from slipway.models.release import ReleaseInput

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# Clock skew between this function and Step Functions, plus request latency, is far below this.
REPLAY_TOLERANCE = timedelta(seconds=2)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:aws:states:<region>:<account>:stateMachine:<sm> -> arn:...:execution:<sm>:<name>."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


class StepFunctionsReleases:
    def __init__(
        self,
        sfn: SFNClient,
        state_machine_arn: str,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._sfn = sfn
        self._arn = state_machine_arn
        self._clock = clock

    def start_release(self, release_input: ReleaseInput) -> StartOutcome:
        """One StartExecution call: ``started`` for a new execution, ``duplicate`` when it already existed."""
        name = release_input.release.release_id
        called_at = self._clock()
        try:
            response = self._sfn.start_execution(
                stateMachineArn=self._arn, name=name, input=release_input.model_dump_json()
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            return StartOutcome("duplicate", execution_arn(self._arn, name))
        started = response["startDate"]
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        if started < called_at - REPLAY_TOLERANCE:
            return StartOutcome("duplicate", response["executionArn"])
        return StartOutcome("started", response["executionArn"])

    def describe(self, execution_arn: str) -> ExecutionState:
        response = self._sfn.describe_execution(executionArn=execution_arn)
        output = response.get("output")
        return ExecutionState(
            status=response["status"],
            output=json.loads(output) if output else None,
            error=response.get("error"),
            cause=response.get("cause"),
        )
