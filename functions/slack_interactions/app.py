"""HTTP API ``POST /slack/interactions``: Slack's Approve / Reject clicks.

Cold start matters here (Slack gives up after 3 s). ``slipway.domain.approval`` imports only the standard
library, so the import below is cheap: the signature check is a stdlib HMAC, and boto3, pydantic and slack_sdk
load only when a request has passed it (see docs/approvals.md, "Cold start"). ``trace=False`` keeps the X-Ray
SDK out of this function entirely (Lambda's active tracing still records the invocation; docs/observability.md).
"""

from __future__ import annotations

from typing import Any

from slipway.domain.approval import handle_interaction
from slipway.observability import instrument


@instrument(trace=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_interaction(event)
