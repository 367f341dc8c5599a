"""Releases for tests: one builder, so every test's release has the shape intake gives a real one."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from slipway.domain.approval.request import request_approval
from slipway.domain.release.deploy import start_deployment
from slipway.domain.release.prepare import prepare_environment
from slipway.models.payloads import PrepareEnvironmentInput, RequestApprovalInput, StartDeploymentInput
from slipway.models.records import ApprovalRecord
from slipway.models.release import Plan, Release, release_id_for

REGISTRY = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"


def a_release(
    n: int, *, salt: str, pushed_at: datetime, pipeline: str = "web-app", repository: str = "app-images", **fields: Any
) -> Release:
    """Release ``n`` of ``pipeline``: a digest of its own (``salt`` keeps each test module's digests apart), tag
    ``n`` as 40 hex digits; ``fields`` sets the rest (``commit``, ``pushed_by``, ...)."""
    digest = "sha256:" + hashlib.sha256(f"{salt}-{n}".encode()).hexdigest()
    return Release(
        release_id=release_id_for(pipeline, digest),
        pipeline=pipeline,
        registry=REGISTRY,
        repository=repository,
        digest=digest,
        tags=[f"{n:040x}"],
        pushed_at=pushed_at,
        **fields,
    )


def production_approval(gate: Any, release: Release) -> ApprovalRecord:
    """The production approval ``gate`` (a ``FakeGate``) requests for ``release``; the plan it names is current."""
    plan = Plan(
        release_id=release.release_id,
        pipeline=release.pipeline,
        environment="production",
        digest=release.digest,
        plan_hash="1" * 64,
        task_definition_arn="arn:aws:ecs:eu-west-2:123456789012:task-definition/app-task:7",
        appspec_content="{}",
        appspec_sha256="0" * 64,
        application="codedeploy-app",
        deployment_group="codedeploy-deployment-group-production",
        approval_required=True,
        approval_timeout_seconds=3600,
        deployment_wait_seconds=600,
    )
    gate.store.plans[(release.release_id, "production")] = plan.plan_hash
    task = RequestApprovalInput(task_token="the-token", release=release, environment="production", plan=plan)
    record = gate.store.get(request_approval(gate, task)["approval_id"])
    assert record is not None
    return record


def deploy_on_fakes(deps: Any, release: Release, environment: str) -> str:
    """PrepareEnvironment then StartDeployment for ``environment`` on ``deps`` (a ``FakeReleaseDeps``); the id."""
    plan = prepare_environment(deps, PrepareEnvironmentInput(release=release, environment=environment))
    task = StartDeploymentInput(
        task_token=f"token-{environment}", release=release, environment=environment, plan=plan,
        environments=["staging", "production"],
    )  # fmt: skip
    return str(start_deployment(deps, task)["deployment_id"])
