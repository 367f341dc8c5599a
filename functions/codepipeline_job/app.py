"""CodePipeline Invoke action: start a release from imageDetail.json, then report it until it finishes.

Every job ends in PutJobSuccessResult (with a continuation token while the release runs) or PutJobFailureResult.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.adapters.codepipeline import CodePipelineJobs
from slipway.adapters.ecr_images import EcrImages
from slipway.adapters.runtime import runtime
from slipway.adapters.stepfunctions import StepFunctionsReleases
from slipway.domain.intake import JobDeps, run_codepipeline_job
from slipway.observability import instrument


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    rt = runtime()
    deps = JobDeps(
        jobs=CodePipelineJobs(rt.aws.codepipeline),
        starter=StepFunctionsReleases(rt.aws.sfn, rt.settings.require_state_machine()),
        images=EcrImages(rt.aws.ecr),
        audit=rt.audit,
        config=rt.config,
    )
    return run_codepipeline_job(event, deps).as_dict()
