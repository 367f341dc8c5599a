"""SNS notification from a CodePipeline Manual approval action -> the Slack approval message.

The answer comes back through SlackInteractions (PutApprovalResult). Each SNS record is one approval.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.domain.approval import request_codepipeline_approval
from slipway.errors import MalformedEvent
from slipway.observability import instrument


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        raise MalformedEvent("SNS event: missing 'Records'")
    posted = []
    for index, record in enumerate(records):
        sns = record.get("Sns") if isinstance(record, dict) else None
        if not isinstance(sns, dict) or not isinstance(sns.get("Message"), str):
            raise MalformedEvent(f"SNS event: Records[{index}].Sns.Message is missing")
        posted.append(request_codepipeline_approval(sns["Message"]))
    return {"approvals": posted}
