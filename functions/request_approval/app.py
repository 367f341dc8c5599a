"""RequestApproval task (``.waitForTaskToken``): store the approval record and post the Slack message."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.domain.approval.request import request_approval
from slipway.models.parsing import parse_event
from slipway.models.payloads import RequestApprovalInput
from slipway.observability import instrument, logger
from slipway.wiring import wiring


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = parse_event(RequestApprovalInput, event, "RequestApproval payload")
    logger.append_keys(environment=task.environment)
    return request_approval(wiring().approvals, task)
