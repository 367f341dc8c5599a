"""Clients for environments in another account or region (``Environment.target``, docs/accounts.md).

Each is built from ``sts:AssumeRole`` credentials on the environment's deploy role, with a session name that
carries the release id (the target account's CloudTrail then says which release acted), cached until five minutes
before they expire. A refused AssumeRole (no trust, a wrong external id) becomes ``TargetAccessDenied`` naming the
role and the fix, so the release fails with a cause a person can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from slipway.adapters.aws import AwsClients, transient_errors
from slipway.errors import TargetAccessDenied

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_sts import STSClient

    from slipway.models.target import Target

REFRESH_MARGIN = timedelta(minutes=5)
SESSION_NAME_MAX = 64  # RoleSessionName: 2-64 characters of [\w+=,.@-]
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "InvalidClientTokenId"})


def session_name(release_id: str) -> str:
    """The AssumeRole session name of ``release_id``: the id itself, cut to 64 characters (a 40-character
    pipeline name still leaves 23 hex digits of the digest)."""
    return re.sub(r"[^\w+=,.@-]", "-", release_id)[:SESSION_NAME_MAX]


def denied_cause(target: Target, code: str, message: str) -> str:
    external = (
        f" and its sts:ExternalId condition must equal external_id ({target.external_id!r})"
        if target.external_id
        else " (and if the role requires an sts:ExternalId, set target.external_id to it)"
    )
    return (
        f"slipway could not assume {target.role_arn} for account {target.account_id} / {target.region} "
        f"({code}: {message}). Fix: the role's trust policy must admit the control plane's function roles "
        f"(deploy target-account.yaml in {target.account_id} with ControlPlaneAccountId and the function role "
        f"names){external}; the control plane's stack must list the role in TargetRoleArns."
    )


@dataclass
class _Assumed:
    clients: AwsClients
    expires: datetime


class TargetSessions:
    """``clients(target, release_id)``: AWS clients acting in ``target``'s account and region."""

    def __init__(self, sts: STSClient, *, clock: Callable[[], datetime] | None = None) -> None:
        self._sts = sts
        self._clock = clock or (lambda: datetime.now(UTC))
        self._cache: dict[tuple[str, str | None, str, str], _Assumed] = {}

    def clients(self, target: Target, release_id: str) -> AwsClients:
        name = session_name(release_id)
        key = (target.role_arn, target.external_id, target.region, name)
        cached = self._cache.get(key)
        if cached is not None and cached.expires - REFRESH_MARGIN > self._clock():
            return cached.clients
        credentials = self._assume(target, name)
        import boto3

        session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=target.region,
        )
        assumed = _Assumed(AwsClients(session), _aware(credentials["Expiration"]))
        self._cache[key] = assumed
        return assumed.clients

    def _assume(self, target: Target, name: str) -> Any:
        extra: dict[str, Any] = {"ExternalId": target.external_id} if target.external_id else {}
        try:
            with transient_errors(f"sts.AssumeRole {target.role_arn}"):
                response = self._sts.assume_role(RoleArn=target.role_arn, RoleSessionName=name, **extra)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in DENIED_CODES:
                raise TargetAccessDenied(denied_cause(target, code, str(error.get("Message", "")))) from None
            raise
        return response["Credentials"]


def _aware(expires: datetime) -> datetime:
    return expires if expires.tzinfo else expires.replace(tzinfo=UTC)
