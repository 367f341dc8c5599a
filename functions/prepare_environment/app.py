"""PrepareEnvironment task: lock, promotion check, scan gate, render and register -> the environment's Plan."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.domain.release.prepare import prepare_environment
from slipway.models.parsing import parse_event
from slipway.models.payloads import PrepareEnvironmentInput
from slipway.observability import instrument, logger
from slipway.wiring import wiring


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = parse_event(PrepareEnvironmentInput, event, "PrepareEnvironment payload")
    logger.append_keys(environment=task.environment)
    return prepare_environment(wiring().release, task).model_dump(mode="json")
