"""The release flow's decisions before anything is deployed: which release is newest (supersede), promotion by
digest, the ECR scan gate, and the environment lock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slipway.domain.release.ports import ReleaseDeps
from slipway.errors import ConfigError, LockBusy, PromotionRefused, Superseded, TransientError
from slipway.models.config import Environment, Pipeline
from slipway.models.records import AuditKind
from slipway.models.release import Release
from slipway.observability import logger

SEVERITY_RANK = {"INFORMATIONAL": 0, "UNDEFINED": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
SCAN_PENDING = frozenset({"IN_PROGRESS", "PENDING"})
LATEST_ATTEMPTS = 3
# PrepareEnvironment's TransientError retry in the state machine (12 attempts, 2 s doubling, capped at 60 s, full
# jitter): at most 482 s of waiting, about 8 minutes (less with the jitter).
REPLICATION_WAIT_MINUTES = 8


def short_digest(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def registry_id(registry: str) -> str | None:
    """The account of an ECR registry host (``123456789012.dkr.ecr...``), or None."""
    account = registry.split(".", 1)[0]
    return account if account.isdigit() and len(account) == 12 else None


def account_and_region(arn: str) -> tuple[str, str]:
    """(account, region) of an ARN: a registered task definition says where its environment is."""
    parts = arn.split(":")
    return (parts[4], parts[3]) if len(parts) > 5 else ("", "")


def registry_region(registry: str) -> str | None:
    """The region of an ECR registry host (``123456789012.dkr.ecr.eu-west-2.amazonaws.com``), or None."""
    parts = registry.split(".")
    return parts[3] if len(parts) > 4 and parts[1:3] == ["dkr", "ecr"] else None


def pull_registry(deps: ReleaseDeps, env: Environment, release: Release) -> str:
    """The registry ``env`` pulls the release from: the pushed one, or for an environment in another region the
    replica ECR replication keeps there (same account, same repository, same digest). The digest must have
    arrived: until it has, ``TransientError`` (the state machine's retries are the bounded wait), then the
    release fails with this cause."""
    pushed_region = registry_region(release.registry)
    if env.target is None or pushed_region is None or pushed_region == env.target.region:
        return release.registry
    replica = release.registry.replace(f".{pushed_region}.", f".{env.target.region}.", 1)
    if not deps.images_in(env.target.region).has_image(
        registry_id(release.registry), release.repository, release.digest
    ):
        raise TransientError(
            f"{release.repository}@{short_digest(release.digest)} is not in {replica} ({env.target.region}) yet: "
            f"{env.name} pulls from there. slipway retries for up to about {REPLICATION_WAIT_MINUTES} minutes, "
            f"then fails. If it does not arrive, check the registry's ECR replication configuration replicates "
            f"{release.repository} to {env.target.region} (aws ecr describe-image-replication-status)."
        )
    return replica


def pipeline_of(deps: ReleaseDeps, release: Release) -> Pipeline:
    try:
        return deps.config().pipeline(release.pipeline)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None


def environment_of(pipeline: Pipeline, name: str) -> tuple[Environment, int]:
    try:
        env = pipeline.environment(name)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    return env, pipeline.environment_names().index(name)


def _utc_key(moment: datetime) -> str:
    """A fixed-width UTC time (microseconds, ``Z``): such strings sort as the times they name."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def order_key(deps: ReleaseDeps, release: Release) -> str:
    """How 'new' a release is: push time (else when its execution started, else now), then its digest, so two images
    pushed in the same second are ordered the same way whichever is prepared first."""
    moment = release.pushed_at
    if moment is None:
        record = deps.audit.release(release.release_id)
        started = datetime.fromisoformat(record.started_at) if record and record.started_at else None
        moment = started or deps.state.now()
    return f"{_utc_key(moment)}#{release.digest}"


def may_supersede(deps: ReleaseDeps, release_id: str) -> bool:
    """Only a live release supersedes: one still running (and with no failed environment), or one that succeeded.
    A release that ended FAILED, REJECTED, EXPIRED or SUPERSEDED replaces nothing."""
    record = deps.audit.release(release_id)
    if record is None:
        return True  # its execution has just started and not yet written its record
    if record.status == "SUCCEEDED":
        return True
    if not record.running:
        return False
    return all(result.status != "FAILED" for result in deps.audit.environment_results(release_id).values())


def check_newest(deps: ReleaseDeps, pipeline: Pipeline, release: Release, environment: str) -> None:
    """Under ``concurrency: supersede``, a release that is no longer the pipeline's newest live release stops here.

    A newer release recorded in ``LATEST`` that is no longer live is replaced there (conditionally on still being
    the one recorded), and the check is made again.
    """
    if pipeline.concurrency != "supersede":
        return
    key = order_key(deps, release)
    newest = deps.state.record_latest(pipeline.name, release.release_id, key)
    for _ in range(LATEST_ATTEMPTS):
        if newest == release.release_id:
            return
        if may_supersede(deps, newest):
            raise Superseded(
                f"Superseded by {newest}: a newer release of {pipeline.name} replaced "
                f"{release.release_id} before {environment}"
            )
        logger.info("the newer recorded release is not live: it supersedes nothing", extra={"newest": newest})
        newest = deps.state.record_latest(pipeline.name, release.release_id, key, replace=newest)
    if newest != release.release_id:
        raise TransientError(f"the newest release of {pipeline.name} kept changing; {release.release_id} checks again")


def check_promotion(deps: ReleaseDeps, pipeline: Pipeline, release: Release, environment: str, index: int) -> None:
    """Environment N may only receive the digest that SUCCEEDED in environment N-1 in this same release."""
    if index == 0:
        return
    previous = pipeline.environments[index - 1].name
    result = deps.audit.environment_result(release.release_id, previous)
    if result is None or result.status != "SUCCEEDED":
        status = result.status if result else "never deployed"
        raise PromotionRefused(
            f"{environment} refuses {pipeline.name}@{short_digest(release.digest)}: it has not succeeded in "
            f"{previous} in release {release.release_id} ({previous}: {status})"
        )
    if result.digest != release.digest:
        raise PromotionRefused(
            f"{environment} refuses {pipeline.name}@{short_digest(release.digest)}: {previous} succeeded with a "
            f"different digest ({result.digest})"
        )


def scan_gate(deps: ReleaseDeps, env: Environment, release: Release) -> tuple[dict[str, int] | None, bool]:
    """(counts for the plan, force approval). Refuses, or asks for approval, at or above the threshold."""
    gate = env.scan_gate
    if gate is None:
        return None, False
    scan = deps.scans.scan(registry_id(release.registry), release.repository, release.digest)
    image = f"{release.repository}@{short_digest(release.digest)}"
    if scan.status in SCAN_PENDING:
        raise TransientError(f"the ECR scan of {image} is still {scan.status}; {env.name} waits for its result")
    if scan.status != "COMPLETE":
        problem = f"no completed ECR scan for {image} (scan status {scan.status})"
        if gate.action == "refuse":
            raise PromotionRefused(f"{env.name} refuses {image}: {problem}")
        return scan.counts, True
    floor = SEVERITY_RANK[gate.threshold]
    above = {sev: n for sev, n in scan.counts.items() if n > 0 and SEVERITY_RANK.get(sev, 0) >= floor}
    if above and gate.action == "refuse":
        listed = ", ".join(f"{sev} {n}" for sev, n in sorted(above.items(), key=lambda kv: -SEVERITY_RANK[kv[0]]))
        raise PromotionRefused(
            f"{env.name} refuses {image}: the ECR scan found findings at or above {gate.threshold} ({listed})"
        )
    return scan.counts, bool(above)


def _holder_is_live(deps: ReleaseDeps, holder_id: str) -> bool:
    """A lock whose holder's release has finished (crash, lost Catch) is stale: it must not block forever."""
    record = deps.audit.release(holder_id)
    return record is None or record.running


def deployment_in_progress(deps: ReleaseDeps, pipeline: Pipeline, environment: str, release_id: str) -> str | None:
    """The id of ``release_id``'s deployment to ``environment`` while CodeDeploy is still deploying it, else None.

    A lock in phase ``deploying`` stays with its release until the deployment ends, even after the release has
    ended (a timeout failed it): another release must not deploy over a running deployment.
    """
    recorded = deps.state.plan(release_id, environment)
    if recorded is None or not recorded.deployment_id:
        return None
    token = deps.state.deployment_token(recorded.deployment_id)
    if token is not None and token.recorded_at:
        return None
    env, _ = environment_of(pipeline, environment)
    info = deps.deployer(env, release_id).describe(recorded.deployment_id)
    return recorded.deployment_id if info.running else None


def take_lock(deps: ReleaseDeps, pipeline: Pipeline, env: Environment, release: Release, ttl: timedelta) -> str | None:
    """Acquire the environment lock; returns the release whose waiting approval was voided (supersede), if any.

    Raises ``LockBusy`` (the state machine retries) while another live release holds it.
    """
    state = deps.state
    if state.acquire_lock(pipeline.name, env.name, release.release_id, phase="preparing", ttl=ttl):
        return None
    lock = state.lock(pipeline.name, env.name)
    if lock is None:  # released between our write and our read: try once more
        if state.acquire_lock(pipeline.name, env.name, release.release_id, phase="preparing", ttl=ttl):
            return None
        lock = state.lock(pipeline.name, env.name)
    holder = lock.holder if lock else "?"
    phase = lock.phase if lock else "?"
    still_deploying = (
        lock is not None
        and phase == "deploying"
        and deployment_in_progress(deps, pipeline, env.name, holder) is not None
    )
    if lock is not None and not still_deploying and not _holder_is_live(deps, holder):
        logger.warning("taking over a stale lock", extra={"holder": holder, "environment": env.name})
        if state.acquire_lock(
            pipeline.name, env.name, release.release_id, phase="preparing", ttl=ttl, replace_holder=holder
        ):
            return None
    elif lock is not None and pipeline.concurrency == "supersede" and phase == "awaiting_approval":
        # Recorded first: the older release's FinalizeRelease may run as soon as its approval is voided.
        deps.audit.event(holder, AuditKind.SUPERSEDED, environment=env.name, by=release.release_id)
        voided = deps.approvals.void(holder, f"Superseded by {release.release_id}")
        logger.info("superseded a release waiting for approval", extra={"holder": holder, "voided": voided})
        if state.acquire_lock(
            pipeline.name, env.name, release.release_id, phase="preparing", ttl=ttl, replace_holder=holder
        ):
            deps.audit.event(release.release_id, AuditKind.SUPERSEDED_RELEASE, environment=env.name, release=holder)
            return holder
    raise LockBusy(
        f"{env.name} of {pipeline.name} is held by release {holder} ({phase} since "
        f"{lock.acquired_at if lock else None}); {release.release_id} waits its turn"
    )
