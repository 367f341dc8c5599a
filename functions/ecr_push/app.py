"""EventBridge `aws.ecr`: `ECR Image Action` (PUSH, SUCCESS) -> one release per matching pipeline; `AWS API Call via
CloudTrail` (PutImage) -> who pushed the image, for the approval gate's pusher rule.

A malformed event raises MalformedEvent: Lambda retries it twice, then EventInvokeConfig sends it to the
dead-letter queue (template.yaml), so it is kept and never loops.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.domain.intake.ecr_push import on_ecr_event, parse_ecr_event
from slipway.observability import instrument
from slipway.wiring import wiring


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return on_ecr_event(parse_ecr_event(event), wiring().intake())
