"""Every DynamoDB key slipway writes, in one place: the storage layout of both tables.

StateTable (short-lived items, TTL ``expires_at``):
- ``LOCK#<pipeline>#<env>`` / ``LOCK``              an environment's lock (``LockRecord``)
- ``LATEST#<pipeline>`` / ``LATEST``                the pipeline's newest release (supersede policy)
- ``PLAN#<release_id>`` / ``<env>``                 the plan prepared for an environment (``PlanRecord``)
- ``DEPLOYMENT#<deployment_id>`` / ``TOKEN``        a Deploy task waiting for its event (``DeploymentToken``)
- ``APPROVAL#<approval_id>`` / ``APPROVAL``         an approval request (``ApprovalRecord``)
- ``RELEASEAPPROVAL#<release_id>`` / ``<env>``      a release's current approval id (to void it on supersede)
- ``PUSHER#<repository>@<digest>`` / ``PUSHER``     who put the image (CloudTrail ``PutImage``), for the pusher rule

AuditTable (slipway never deletes from it):
- ``RELEASE#<release_id>`` / ``META``               the release (``ReleaseRecord``)
- ``RELEASE#<release_id>`` / ``ENV#<env>``          an environment's outcome (``EnvironmentResult``)
- ``RELEASE#<release_id>`` / ``EVENT#<iso>#<seq>``  one thing that happened (``AuditEvent``)
- ``RELEASE#<release_id>`` / ``INFLIGHT``           sits in gsi1 under ``INFLIGHT`` while the release runs
- ``GOOD#<pipeline>#<env>`` / ``<iso>#<release_id>`` the verified-good revisions (promotion, rollback)
- gsi1: ``PIPELINE#<pipeline>`` / ``<started iso>#<release_id>`` (a pipeline's releases) and
  ``INFLIGHT`` / ``<started iso>#<release_id>`` (releases in flight; sparse)

Times are ISO 8601 UTC strings, so key order is time order.
"""

from __future__ import annotations

from typing import Any

Key = dict[str, Any]


def key(pk: str, sk: str) -> Key:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


# ---------------------------------------------------------------------------------------------- StateTable
LOCK_SK = "LOCK"
LATEST_SK = "LATEST"
DEPLOYMENT_SK = "TOKEN"  # the item holds the Deploy task token
APPROVAL_SK = "APPROVAL"
PUSHER_SK = "PUSHER"


def lock_pk(pipeline: str, environment: str) -> str:
    return f"LOCK#{pipeline}#{environment}"


def lock_key(pipeline: str, environment: str) -> Key:
    return key(lock_pk(pipeline, environment), LOCK_SK)


def latest_pk(pipeline: str) -> str:
    return f"LATEST#{pipeline}"


def latest_key(pipeline: str) -> Key:
    return key(latest_pk(pipeline), LATEST_SK)


def plan_pk(release_id: str) -> str:
    return f"PLAN#{release_id}"


def plan_key(release_id: str, environment: str) -> Key:
    return key(plan_pk(release_id), environment)


def deployment_pk(deployment_id: str) -> str:
    return f"DEPLOYMENT#{deployment_id}"


def deployment_key(deployment_id: str) -> Key:
    return key(deployment_pk(deployment_id), DEPLOYMENT_SK)


def approval_pk(approval_id: str) -> str:
    return f"APPROVAL#{approval_id}"


def approval_key(approval_id: str) -> Key:
    return key(approval_pk(approval_id), APPROVAL_SK)


def release_approval_pk(release_id: str) -> str:
    return f"RELEASEAPPROVAL#{release_id}"


def pusher_key(repository: str, digest: str) -> Key:
    return key(f"PUSHER#{repository}@{digest}", PUSHER_SK)


# ---------------------------------------------------------------------------------------------- AuditTable
INFLIGHT = "INFLIGHT"
META = "META"
ENV_PREFIX = "ENV#"
RELEASE_PREFIX = "RELEASE#"
EVENT_PREFIX = "EVENT#"


def release_pk(release_id: str) -> str:
    return f"{RELEASE_PREFIX}{release_id}"


def release_id_of(pk: str) -> str:
    """The release id in a ``RELEASE#<release_id>`` partition key."""
    return pk.removeprefix(RELEASE_PREFIX)


def release_key(release_id: str) -> Key:
    return key(release_pk(release_id), META)


def environment_sk(environment: str) -> str:
    return f"{ENV_PREFIX}{environment}"


def environment_key(release_id: str, environment: str) -> Key:
    return key(release_pk(release_id), environment_sk(environment))


def event_sk(at: str, sequence: int) -> str:
    return f"{EVENT_PREFIX}{at}#{sequence:08d}"


def inflight_key(release_id: str) -> Key:
    return key(release_pk(release_id), INFLIGHT)


def good_pk(pipeline: str, environment: str) -> str:
    return f"GOOD#{pipeline}#{environment}"


def good_sk(finished_at: str, release_id: str) -> str:
    return f"{finished_at}#{release_id}"


def pipeline_gsi_pk(pipeline: str) -> str:
    return f"PIPELINE#{pipeline}"


def started_gsi_sk(started_at: str, release_id: str) -> str:
    return f"{started_at}#{release_id}"
