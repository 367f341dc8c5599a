"""EventBridge `aws.ecr` / `ECR Image Action` (PUSH, SUCCESS) -> one release per matching pipeline.

A malformed event raises MalformedEvent: Lambda retries it twice, then EventInvokeConfig sends it to the
dead-letter queue (template.yaml), so it is kept and never loops.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.domain.intake.ecr_push import intake_ecr_push, parse_ecr_push
from slipway.observability import instrument
from slipway.wiring import wiring


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    push = parse_ecr_push(event)
    outcomes = intake_ecr_push(push, wiring().intake())
    return {"outcomes": [o.as_dict() for o in outcomes]}
