"""EventBridge `aws.ecr` / `ECR Image Action` (PUSH, SUCCESS) -> one release per matching pipeline.

A malformed event raises MalformedEvent: Lambda retries it twice, then EventInvokeConfig sends it to the
dead-letter queue (template.yaml), so it is kept and never loops.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.adapters.runtime import runtime
from slipway.adapters.stepfunctions import StepFunctionsReleases
from slipway.domain.intake import intake_ecr_push, parse_ecr_push
from slipway.observability import instrument


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    push = parse_ecr_push(event)
    rt = runtime()
    outcomes = intake_ecr_push(
        push,
        config=rt.config(),
        starter=StepFunctionsReleases(rt.aws.sfn, rt.settings.require_state_machine()),
        audit=rt.audit,
    )
    return {"outcomes": [o.as_dict() for o in outcomes]}
