"""Step Functions: starting and following release executions, and completing waiting task tokens.

The execution name is the release id, so Step Functions refuses a second execution of a release with
ExecutionAlreadyExists. One case would slip through: the same name AND the same input while the execution runs
makes StartExecution idempotent (AWS returns the running execution, as if it had just started). Every call
therefore carries its own ``attempt_id`` in the input, so an exact redelivery of an event is never "the same
input": a 200 always means a new release and a duplicate is always ExecutionAlreadyExists, one call either way.

Task tokens have one error policy for every caller: a token Step Functions no longer waits on (timed out,
already completed, unknown) raises ``TokenNoLongerValid``; throttling raises ``TransientError`` (retried).
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from slipway.adapters.aws import transient_errors
from slipway.errors import TokenNoLongerValid
from slipway.models.records import ExecutionState, StartOutcome
from slipway.models.release import ReleaseInput

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

TOKEN_GONE_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
MAX_CAUSE_CHARS = 32768


def execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:aws:states:<region>:<account>:stateMachine:<sm> -> arn:...:execution:<sm>:<name>."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


class StepFunctionsReleases:
    def __init__(self, sfn: SFNClient, state_machine_arn: str) -> None:
        self._sfn = sfn
        self._arn = state_machine_arn

    def start_release(self, release_input: ReleaseInput) -> StartOutcome:
        """One StartExecution call: ``started`` for a new execution, ``duplicate`` when it already existed."""
        name = release_input.release.release_id
        attempt = release_input.model_copy(update={"attempt_id": uuid.uuid4().hex})
        try:
            with transient_errors(f"StartExecution {name}"):
                response = self._sfn.start_execution(
                    stateMachineArn=self._arn, name=name, input=attempt.model_dump_json()
                )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            return StartOutcome("duplicate", execution_arn(self._arn, name))
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


class TaskTokens:
    """Completes ``.waitForTaskToken`` tasks (approvals and deployments alike)."""

    def __init__(self, sfn: SFNClient) -> None:
        self._sfn = sfn

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        self._call("SendTaskSuccess", lambda: self._sfn.send_task_success(taskToken=token, output=json.dumps(output)))

    def fail(self, token: str, error: str, cause: str) -> None:
        self._call(
            "SendTaskFailure",
            lambda: self._sfn.send_task_failure(taskToken=token, error=error, cause=cause[:MAX_CAUSE_CHARS]),
        )

    @staticmethod
    def _call(action: str, send: Any) -> None:
        try:
            with transient_errors(action):
                send()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in TOKEN_GONE_CODES:
                raise TokenNoLongerValid(f"Step Functions no longer waits for this task ({code})") from None
            raise
