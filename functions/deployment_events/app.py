"""CodeDeploy and ECS deployment state-change events (EventBridge) and the state machine's timeout check, one
function.

- ``{"detail-type": "CodeDeploy Deployment State-change Notification", "detail": {...}}``: find the task token by
  deployment id and complete it (SUCCESS -> SendTaskSuccess, FAILURE/STOP -> SendTaskFailure DeploymentFailed).
- ``{"detail-type": "ECS Deployment State Change", ...}``: the same for slipway's deployment on that service.
- ``{"check_deployment": {"release": ..., "environment": ...}}``: one look at the deployment after the wait timed
  out.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.domain.release.events import on_deployment_wait
from slipway.models.events import (
    CODEDEPLOY_STATE_CHANGE,
    ECS_DEPLOYMENT_STATE_CHANGE,
    CodeDeployStateChangeEvent,
    EcsDeploymentStateChangeEvent,
)
from slipway.models.parsing import parse_by_detail_type
from slipway.models.payloads import CheckDeploymentRequest
from slipway.observability import instrument
from slipway.wiring import wiring

EVENTS = {
    CODEDEPLOY_STATE_CHANGE: CodeDeployStateChangeEvent,
    ECS_DEPLOYMENT_STATE_CHANGE: EcsDeploymentStateChangeEvent,
}


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse_by_detail_type(EVENTS, CheckDeploymentRequest, event, "DeploymentEvents input")
    return on_deployment_wait(wiring().release, parsed)
