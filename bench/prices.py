"""The dated price table of `make bench`'s cost figure, and the seed's CodePipeline V2 + CodeBuild design priced from
it for one release of the same shape (build, staging, a manual approval, production).

Prices are AWS's published on-demand prices for us-east-1 (the reference region of the pricing pages; eu-west-2 is
a few per cent dearer for Lambda and Step Functions, the same for the rest), read on ``PRICES_AS_OF``. This machine
has no internet: they are not re-read at run time. Free tiers are left out (an organisation outgrows them).
"""

from __future__ import annotations

import math
from typing import Any

PRICES_AS_OF = "2025-06-01"
REGION = "us-east-1"

PRICES_USD: dict[str, float] = {
    "lambda_arm64_gb_second": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    "sfn_standard_state_transition": 0.025 / 1000,
    "dynamodb_on_demand_write_unit": 0.625 / 1e6,  # since the 2024-11 on-demand price cut
    "dynamodb_on_demand_read_unit": 0.125 / 1e6,
    "http_api_request": 1.00 / 1e6,
    "secretsmanager_api_call": 0.05 / 10_000,
    # AWS services' own events on the default bus (ECR, CodeDeploy) are free; CloudTrail's API-call events are
    # priced as custom events here, to err on the dear side.
    "eventbridge_aws_service_event": 0.0,
    "eventbridge_custom_event": 1.00 / 1e6,
    "cloudwatch_logs_ingested_gb": 0.50,
    "xray_trace_recorded": 5.00 / 1e6,
    "s3_get_request": 0.0004 / 1000,
    "s3_list_request": 0.005 / 1000,
    "codepipeline_v2_action_minute": 0.002,
    "codebuild_general1_small_linux_minute": 0.005,
}

# The seed's pipeline (seed post: Source -> Build -> Deploy_to_Staging -> Approve -> Deploy_to_Production), each
# action's minutes for one release. CodePipeline V2 bills every action's execution minutes except manual approvals;
# CodeDeploy to ECS is free. The durations are assumptions, stated: a CodeStar source checkout takes under a minute;
# the seed's buildspec starts dockerd, builds with docker-compose, runs the test suite and pushes (10 minutes on
# BUILD_GENERAL1_SMALL); a blue/green deploy with health checks and an all-at-once shift takes 5 minutes (the
# seed's 60-minute wait before terminating the blue tasks is left out, which flatters the seed).
SEED_ACTION_MINUTES = {"source": 1.0, "build": 10.0, "deploy_staging": 5.0, "deploy_production": 5.0}


def seed_release_cost() -> dict[str, Any]:
    """One release through the seed's design: pipeline action minutes (whole minutes, as billed) and build minutes."""
    minutes = {action: math.ceil(m) for action, m in SEED_ACTION_MINUTES.items()}
    action_minutes = sum(minutes.values())
    pipeline = action_minutes * PRICES_USD["codepipeline_v2_action_minute"]
    build = minutes["build"] * PRICES_USD["codebuild_general1_small_linux_minute"]
    # What slipway replaces is the part after the image exists: the source and build actions stay with whatever
    # builds the image (CodeBuild, GitHub Actions, ...), in either design.
    orchestration = (minutes["deploy_staging"] + minutes["deploy_production"]) * PRICES_USD[
        "codepipeline_v2_action_minute"
    ]
    return {
        "action_minutes": minutes,
        "total_usd": round(pipeline + build, 6),
        "codepipeline_usd": round(pipeline, 6),
        "codebuild_usd": round(build, 6),
        "deploy_orchestration_usd": round(orchestration, 6),
    }
