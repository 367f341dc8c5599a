"""The DeploymentEvents function's inputs: CodeDeploy's and ECS's deployment state-change events, and the Deploy
timeout's check request. An event names a deployment (CodeDeploy) or only a service (ECS: the deployment slipway
runs there is found from the service's lock holder, and one DescribeServiceDeployments says whether it ended);
either way the outcome is claimed and recorded by ``wait.on_deployment_outcome``. Kept apart from ``wait.py`` so
the Deploy task, which records outcomes too, does not load the event models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from slipway.domain.release.ports import ReleaseDeps
from slipway.domain.release.wait import check_deployment, deployer_of, on_deployment_outcome
from slipway.errors import TransientError
from slipway.models.events import CodeDeployStateChangeEvent, EcsDeploymentStateChangeEvent
from slipway.models.payloads import CheckDeploymentRequest
from slipway.observability import logger, set_release_context

EVENT_STATUS = {"SUCCESS": "SUCCEEDED", "FAILURE": "FAILED", "STOP": "STOPPED"}
ECS_FINAL_EVENTS = frozenset({"SERVICE_DEPLOYMENT_COMPLETED", "SERVICE_DEPLOYMENT_FAILED"})
EVENT_ATTEMPTS = 4  # in one invocation: 0.5 s, 1 s and 2 s apart, well inside the function's 30 s
EVENT_BACKOFF_SECONDS = 0.5


def on_deployment_event(deps: ReleaseDeps, event: CodeDeployStateChangeEvent) -> dict[str, Any]:
    """A deployment's state changed: claim and record its outcome when it ended, and complete the waiting task."""
    deployment_id, state = event.detail.deployment_id, event.detail.state
    status = EVENT_STATUS.get(state)
    if status is None:
        logger.info("ignoring a non-final deployment state", extra={"deployment_id": deployment_id, "state": state})
        return {"ignored": True, "deployment_id": deployment_id, "reason": f"state {state}"}
    return on_deployment_outcome(deps, deployment_id, status)


def _ecs_deployments_of(deps: ReleaseDeps, cluster: str, service: str) -> list[str]:
    """The deployments slipway runs on an ECS service: each ECS-native environment of that service whose lock a
    release holds, and the deployment that release recorded there (a lock outlives a timed-out deployment)."""
    found: list[str] = []
    for pipeline in deps.config().pipelines.values():
        for env in pipeline.environments:
            if env.deployment.type != "ecs" or env.service != service or env.cluster.rsplit("/", 1)[-1] != cluster:
                continue
            lock = deps.state.lock(pipeline.name, env.name)
            plan = deps.state.plan(lock.holder, env.name) if lock else None
            if plan is not None and plan.deployment_id:
                found.append(plan.deployment_id)
    return found


def on_ecs_deployment_event(deps: ReleaseDeps, event: EcsDeploymentStateChangeEvent) -> dict[str, Any]:
    """ECS's event names the service and its own ``ecs-svc/`` id, not the service deployment ARN slipway waits on:
    find slipway's deployment on that service, and let one DescribeServiceDeployments say whether it ended (the
    event may be about another deployment of the same service)."""
    name = event.detail.event_name
    if name not in ECS_FINAL_EVENTS:
        return {"ignored": True, "deployment_id": event.detail.deployment_id, "reason": f"event {name}"}
    service = event.service
    deployment_ids = _ecs_deployments_of(deps, *service) if service else []
    results: list[dict[str, Any]] = []
    for deployment_id in deployment_ids:
        token = deps.state.deployment_token(deployment_id)
        if token is None:
            continue
        info = deployer_of(deps, token).describe(deployment_id)
        if info.running:
            results.append({"ignored": True, "deployment_id": deployment_id, "reason": f"still {info.status}"})
            continue
        results.append(on_deployment_outcome(deps, deployment_id, "SUCCEEDED" if info.succeeded else "FAILED"))
    if not results:
        logger.info("ignoring a deployment slipway did not start", extra={"resources": event.resources})
        return {"ignored": True, "deployment_id": event.detail.deployment_id, "reason": "not a slipway deployment"}
    return results[0] if len(results) == 1 else {"results": results}


def _with_retries(
    deps: ReleaseDeps, event: CodeDeployStateChangeEvent | EcsDeploymentStateChangeEvent
) -> dict[str, Any]:
    """An event is delivered a few times at most (Lambda retries an asynchronous invocation twice, a minute or two
    apart, then the dead-letter queue), and a lost one waits for the Deploy timeout: so the invocation itself retries
    ``TransientError`` first. Safe, since every step is claimed or idempotent."""
    for attempt in range(1, EVENT_ATTEMPTS + 1):
        try:
            if isinstance(event, EcsDeploymentStateChangeEvent):
                return on_ecs_deployment_event(deps, event)
            return on_deployment_event(deps, event)
        except TransientError as exc:
            if attempt == EVENT_ATTEMPTS:
                raise
            logger.info("retrying the deployment event", extra={"attempt": attempt, "error": str(exc)})
            deps.sleep(EVENT_BACKOFF_SECONDS * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


def on_deployment_wait(deps: ReleaseDeps, request: BaseModel) -> dict[str, Any]:
    """The DeploymentEvents function's two inputs: a state-change event, or the timeout's check request."""
    if isinstance(request, CheckDeploymentRequest):
        set_release_context(
            request.check_deployment.release.release_id, environment=request.check_deployment.environment
        )
        return check_deployment(deps, request.check_deployment)
    if isinstance(request, CodeDeployStateChangeEvent | EcsDeploymentStateChangeEvent):
        return _with_retries(deps, request)
    raise TypeError(f"not a deployment event or check request: {type(request).__name__}")
