"""CodePipeline Invoke action: start a release from imageDetail.json, then report it until it finishes.

Every job ends in PutJobSuccessResult (with a continuation token while the release runs) or PutJobFailureResult.
The domain parses the job itself: a job it cannot parse still gets a failure result, if it has an id.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.domain.intake.codepipeline_job import run_codepipeline_job
from slipway.observability import instrument
from slipway.wiring import wiring


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_codepipeline_job(event, wiring().job()).as_dict()
