"""RequestApproval task (``.waitForTaskToken``): store the approval record and post the Slack message. The same
request comes from ECS's ``ECS Hook State Change`` event, or CodeDeploy's READY state, for an approval after test
traffic (docs/approvals.md)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.domain.approval.request import request_approval, request_ready_approval, request_test_traffic_approval
from slipway.models.events import (
    CODEDEPLOY_STATE_CHANGE,
    ECS_HOOK_STATE_CHANGE,
    CodeDeployStateChangeEvent,
    EcsHookStateChangeEvent,
)
from slipway.models.parsing import parse_event
from slipway.models.payloads import RequestApprovalInput
from slipway.observability import instrument, logger
from slipway.wiring import wiring


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail_type = event.get("detail-type") if isinstance(event, dict) else None
    if detail_type == ECS_HOOK_STATE_CHANGE:
        hook_event = parse_event(EcsHookStateChangeEvent, event, "ECS Hook State Change event")
        return request_test_traffic_approval(wiring().approvals, hook_event)
    if detail_type == CODEDEPLOY_STATE_CHANGE:
        ready = parse_event(CodeDeployStateChangeEvent, event, "CodeDeploy state-change event")
        return request_ready_approval(wiring().approvals, ready)
    task = parse_event(RequestApprovalInput, event, "RequestApproval payload")
    logger.append_keys(environment=task.environment)
    return request_approval(wiring().approvals, task)
