"""``people.yaml``: who pushes images, as Slack users and the AWS principals CloudTrail names, for the approval
gate's pusher rule (docs/approvals.md)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, model_validator

from slipway.models.deployment import StrictModel

SLACK_USER_PATTERN = r"^[UW][A-Z0-9]{2,}$"
# ARNs are printable ASCII; a class spelt out keeps pydantic-core's Unicode-aware Rust regex small (models/target.py).
PRINCIPAL_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:(?:iam|sts)::[0-9]{12}:(?:root|(?:user|role|assumed-role|federated-user)/[!-~]+)$"
)


class Person(StrictModel):
    """One person: their Slack user and the AWS identities they push images with."""

    slack_user: str = Field(pattern=SLACK_USER_PATTERN, description="Slack user id (U…/W…).")
    aws_principals: list[Annotated[str, Field(pattern=PRINCIPAL_ARN_PATTERN)]] = Field(
        default_factory=list,
        description="Exact ARNs as CloudTrail's userIdentity.arn names them: arn:aws:iam::…:user/alice, or an "
        "assumed-role session arn:aws:sts::…:assumed-role/<role>/<session>.",
    )
    role_sessions: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        description="Assumed-role session names that are this person, in any role (IAM Identity Center sets the "
        "session name to the user name; use it only where the identity provider sets it).",
    )

    @model_validator(mode="after")
    def _some_identity(self) -> Person:
        if not self.aws_principals and not self.role_sessions:
            raise ValueError(f"{self.slack_user}: give aws_principals or role_sessions (or leave the person out)")
        return self


class People(StrictModel):
    """``people.yaml``: who pushes images, as Slack users, for the approval gate's pusher rule."""

    people: list[Person] = Field(
        default_factory=list, description="Each person who pushes images, with the identities CloudTrail names."
    )
    automation: list[Annotated[str, Field(pattern=PRINCIPAL_ARN_PATTERN)]] = Field(
        default_factory=list,
        description="ARNs of CI/CD identities (an IAM role: any of its sessions; a user) that push for no one person.",
    )

    @model_validator(mode="after")
    def _each_identity_once(self) -> People:
        seen: dict[str, str] = {}
        for person in self.people:
            for identity in [*person.aws_principals, *(f"session {s}" for s in person.role_sessions)]:
                if identity in seen and seen[identity] != person.slack_user:
                    raise ValueError(f"{identity} is listed for both {seen[identity]} and {person.slack_user}")
                seen[identity] = person.slack_user
        users = [p.slack_user for p in self.people]
        repeated = sorted({u for u in users if users.count(u) > 1})
        if repeated:
            raise ValueError(f"slack_user listed more than once (merge the entries): {', '.join(repeated)}")
        return self

    def resolve(self, principal_arn: str) -> tuple[str, str] | None:
        """``("person", slack_user)``, ``("automation", arn)`` or None (nobody this config knows)."""
        for person in self.people:
            if principal_arn in person.aws_principals:
                return "person", person.slack_user
        role, session = assumed_role_of(principal_arn)
        for person in self.people:
            if session is not None and session in person.role_sessions:
                return "person", person.slack_user
        for arn in self.automation:
            if arn == principal_arn or (role is not None and _role_matches(arn, principal_arn, role)):
                return "automation", arn
        return None


def assumed_role_of(principal_arn: str) -> tuple[str | None, str | None]:
    """(role name, session name) of an assumed-role ARN ``arn:aws:sts::<account>:assumed-role/<role>/<session>``."""
    match = re.fullmatch(r"arn:aws[a-z-]*:sts::\d{12}:assumed-role/([^/]+)/(.+)", principal_arn)
    return (match[1], match[2]) if match else (None, None)


def _role_matches(role_arn: str, principal_arn: str, role: str) -> bool:
    """An IAM role ARN (any path) names the sessions of that role in the same account."""
    match = re.fullmatch(r"arn:aws[a-z-]*:iam::(\d{12}):role/(?:.*/)?([^/]+)", role_arn)
    account = principal_arn.split(":")[4] if principal_arn.count(":") >= 5 else None
    return match is not None and match[1] == account and match[2] == role
