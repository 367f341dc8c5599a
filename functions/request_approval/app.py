"""RequestApproval task (``.waitForTaskToken``): store the approval record and post the Slack message."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.domain.approval import request_approval
from slipway.observability import instrument


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return request_approval(event)
