"""SNS notification from a CodePipeline Manual approval action -> the Slack approval message.

The answer comes back through SlackInteractions (PutApprovalResult). Each SNS record is one approval.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.domain.approval.codepipeline import on_approval_notifications
from slipway.models.events import CodePipelineApprovalNotification
from slipway.models.parsing import parse_sns_messages
from slipway.observability import instrument
from slipway.wiring import wiring


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notifications = parse_sns_messages(CodePipelineApprovalNotification, event, "CodePipeline approval notification")
    return on_approval_notifications(wiring().approvals, notifications)
