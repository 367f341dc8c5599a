"""Deploy task (.waitForTaskToken): start the plan's deployment, park the token under the deployment id."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.domain.release.deploy import start_deployment
from slipway.models.parsing import parse_event
from slipway.models.payloads import StartDeploymentInput
from slipway.observability import instrument, logger
from slipway.wiring import wiring


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = parse_event(StartDeploymentInput, event, "StartDeployment payload")
    logger.append_keys(environment=task.environment)
    return start_deployment(wiring().release, task)
