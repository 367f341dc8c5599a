"""RequestApproval task (``.waitForTaskToken``): store the approval record and post the Slack message. The same
request comes from ECS's ``ECS Hook State Change`` event, or CodeDeploy's READY state, for an approval after test
traffic (docs/approvals.md)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.domain.approval.request import on_approval_request
from slipway.models.events import (
    CODEDEPLOY_STATE_CHANGE,
    ECS_HOOK_STATE_CHANGE,
    CodeDeployStateChangeEvent,
    EcsHookStateChangeEvent,
)
from slipway.models.parsing import parse_by_detail_type
from slipway.models.payloads import RequestApprovalInput
from slipway.observability import instrument
from slipway.wiring import wiring

EVENTS = {ECS_HOOK_STATE_CHANGE: EcsHookStateChangeEvent, CODEDEPLOY_STATE_CHANGE: CodeDeployStateChangeEvent}


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_by_detail_type(EVENTS, RequestApprovalInput, event, "RequestApproval input")
    return on_approval_request(wiring().approvals, request)
