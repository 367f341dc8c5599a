"""The pusher rule: who pushed the image, as Slack users, and how many approvals that leaves the approval needing.

The pusher is learned from CloudTrail (``PutImage``, recorded by the ECR push function as principals) and mapped to
Slack users through ``people.yaml`` (``slipway.models.config.People``): an exact principal ARN, or an assumed-role
session name, is a person; an ``automation`` role or user pushes for nobody. A release that carries a Slack user as
``pushed_by`` counts too. With ``allow_pusher: false``:

- a pusher who is a person may not approve (``decide`` refuses their click);
- when the pusher is unknown (nothing recorded yet, or a principal no entry maps), the rule fails closed: one more
  distinct approver than ``min_approvals``, capped by what the approver list allows (with users only, their number),
  and the approval message says so.

The OCI ``org.opencontainers.image.authors`` label is never used: whoever builds the image writes it, so it could
name anyone. CodePipeline does not expose the author of the source revision (GetPipelineExecution gives the
revision id, summary and URL only): a CodePipeline build is known by the role that pushed, like any push.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slipway.models.config import ApprovalPolicy, People
    from slipway.models.release import Release

SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")


@dataclass(frozen=True)
class Pushers:
    """Who pushed an image, as far as slipway can tell."""

    users: list[str] = field(default_factory=list)  # Slack users: refused as approvers unless allow_pusher
    principals: list[str] = field(default_factory=list)  # what CloudTrail recorded
    unknown: list[str] = field(default_factory=list)  # principals no people.yaml entry maps
    automation: list[str] = field(default_factory=list)  # principals that push for nobody

    @property
    def known(self) -> bool:
        """Every recorded principal is mapped, and something was recorded."""
        return not self.unknown and bool(self.users or self.automation)


def pushers_of(release: Release, principals: list[str], people: People) -> Pushers:
    users: list[str] = []
    if release.pushed_by and SLACK_USER.fullmatch(release.pushed_by):
        users.append(release.pushed_by)
    unknown: list[str] = []
    automation: list[str] = []
    for principal in principals:
        resolved = people.resolve(principal)
        if resolved is None:
            unknown.append(principal)
        elif resolved[0] == "person":
            users.append(resolved[1])
        else:
            automation.append(principal)
    return Pushers(sorted(set(users)), sorted(principals), unknown, automation)


def required_approvals(policy: ApprovalPolicy, pushers: Pushers) -> tuple[int, str | None]:
    """(approvals required, a note for the message when the rule failed closed)."""
    wanted = policy.min_approvals
    if policy.allow_pusher or pushers.known:
        return wanted, None
    if pushers.unknown:
        why = f"pushed by {', '.join(pushers.unknown)}, which people.yaml maps to no one"
    else:
        why = "no CloudTrail PutImage record of this image reached slipway"
    cap = None if policy.approvers.groups else len(policy.approvers.users)
    required = wanted + 1 if cap is None else min(wanted + 1, cap)
    if required > wanted:
        return required, (
            f":warning: Pusher unknown ({why}). Since the pusher may not approve their own image, one more distinct "
            f"approver is required: {required} instead of {wanted}."
        )
    return required, (
        f":warning: Pusher unknown ({why}). The pusher may not approve their own image, but only {cap} approver(s) "
        f"are named, so all {cap} must approve."
    )
