"""HTTP API ``POST /slack/interactions``: Slack's Approve / Reject clicks.

Cold start matters here (Slack gives up after 3 s). ``slipway.domain.approval.decide`` imports only the standard
library, and the wiring creates nothing at import: the signature check is a stdlib HMAC, and pydantic and
slack_sdk load only when a request has passed it (see docs/approvals.md, "Cold start"). ``trace=False`` keeps the
X-Ray SDK out of this function entirely (Lambda's active tracing still records the invocation).
"""

from __future__ import annotations

from typing import Any

from slipway.domain.approval.decide import handle_interaction
from slipway.observability import instrument
from slipway.wiring import wiring


@instrument(trace=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_interaction(wiring().approvals, event)
