"""Pipeline configuration: what `config/pipelines/*.yaml` may say, validated by pydantic.

A pipeline takes one ECR repository's images through an ordered list of environments. Every error names the
file, the path inside it and the problem (see ``slipway.domain.config.load_config``).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo in config must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Approvers(StrictModel):
    users: list[Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,}$")]] = Field(
        default_factory=list, description="Slack user ids (U…/W…) allowed to decide."
    )
    groups: list[Annotated[str, Field(pattern=r"^S[A-Z0-9]{2,}$")]] = Field(
        default_factory=list, description="Slack user group ids (S…) whose members may decide."
    )


class ApprovalPolicy(StrictModel):
    required: bool = False
    approvers: Approvers = Field(default_factory=Approvers)
    min_approvals: int = Field(default=1, ge=1, le=10, description="N distinct approvers (N-of-M).")
    timeout_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    allow_pusher: bool = Field(default=False, description="May the person who pushed the image approve it?")

    @model_validator(mode="after")
    def _approvers_when_required(self) -> ApprovalPolicy:
        if not self.required:
            return self
        if not self.approvers.users and not self.approvers.groups:
            raise ValueError(
                "approval is required but no approvers are named: add Slack user ids under "
                "approval.approvers.users or user group ids under approval.approvers.groups"
            )
        if not self.approvers.groups and self.min_approvals > len(self.approvers.users):
            raise ValueError(
                f"min_approvals is {self.min_approvals} but only {len(self.approvers.users)} approver(s) are "
                "named: nobody could ever approve"
            )
        return self


class CodeDeployMethod(StrictModel):
    """ECS blue/green through CodeDeploy: the only deployment method slipway supports.

    A plain rolling ECS service (deploymentController ECS) is refused at validation time rather than half
    supported: switch the service to CODE_DEPLOY (two target groups) to deploy it with slipway.
    """

    type: Literal["codedeploy"] = "codedeploy"
    application: str = Field(min_length=1, max_length=100)
    deployment_group: str = Field(min_length=1, max_length=100)
    deployment_config: str | None = Field(default=None, description="Defaults to the deployment group's own.")
    wait_timeout_minutes: int = Field(
        default=180,
        ge=1,
        le=24 * 60,
        description="How long to wait for CodeDeploy's state-change event before one GetDeployment check.",
    )


class TaskDefinitionSource(StrictModel):
    """Where the task definition comes from.

    - ``template``: a JSON file with ``${var}`` placeholders (seed style); ``path`` is relative to the config
      folder or an ``s3://`` URI.
    - ``artifact``: a file of the CodePipeline input artifact (``taskdef-staging.json``) with ``<IMAGE1_NAME>``.
    - ``live``: the service's current task definition with only the named containers' images replaced.
    """

    source: Literal["template", "artifact", "live"]
    path: str | None = None

    @model_validator(mode="after")
    def _path_matches_source(self) -> TaskDefinitionSource:
        if self.source in ("template", "artifact") and not self.path:
            raise ValueError(f"task_definition.source is {self.source!r}, so task_definition.path is required")
        if self.source == "live" and self.path:
            raise ValueError("task_definition.source is 'live': remove task_definition.path")
        return self


class AppSpecSpec(StrictModel):
    """Either an AppSpec template (``path``, with ``<TASK_DEFINITION>``/``${var}``) or the load balancer's
    container name and port to build one, plus optional lifecycle hook functions."""

    path: str | None = None
    container_name: str | None = None
    container_port: int | None = Field(default=None, ge=1, le=65535)
    hooks: dict[
        Literal[
            "BeforeInstall",
            "AfterInstall",
            "AfterAllowTestTraffic",
            "BeforeAllowTraffic",
            "AfterAllowTraffic",
        ],
        str,
    ] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _template_or_container(self) -> AppSpecSpec:
        if self.path is None and (self.container_name is None or self.container_port is None):
            raise ValueError("give appspec.path (a template) or both appspec.container_name and container_port")
        return self


class ScanGate(StrictModel):
    """Wait for the ECR scan on push and act on findings at or above a severity."""

    threshold: Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"] = "HIGH"
    action: Literal["refuse", "require_approval"] = "refuse"


class Environment(StrictModel):
    name: str = Field(pattern=NAME_PATTERN)
    cluster: str = Field(min_length=1)
    service: str = Field(min_length=1)
    deployment: CodeDeployMethod
    task_definition: TaskDefinitionSource
    containers: list[str] = Field(min_length=1, description="Containers whose image becomes the release digest.")
    variables: dict[str, str | int] = Field(default_factory=dict)
    appspec: AppSpecSpec
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    slack_channel: str | None = None
    allow_plaintext: list[str] = Field(
        default_factory=list,
        description="Environment variable names allowed to hold literal values although they look secret.",
    )
    scan_gate: ScanGate | None = None

    @field_validator("deployment", mode="before")
    @classmethod
    def _refuse_rolling(cls, value: object) -> object:
        if isinstance(value, dict) and value.get("type") in ("ecs", "rolling", "ecs-rolling"):
            raise ValueError(
                "rolling ECS deployments are not supported: slipway deploys through CodeDeploy blue/green "
                "(deployment.type: codedeploy). Switch the service's deploymentController to CODE_DEPLOY."
            )
        return value


class Pipeline(StrictModel):
    name: str = Field(pattern=NAME_PATTERN)
    repository: str = Field(pattern=r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
    tag_filter: str = Field(default=".*", description="Regular expression a pushed tag must match (fullmatch).")
    concurrency: Literal["queue", "supersede"] = "queue"
    slack_channel: str | None = None
    environments: list[Environment] = Field(min_length=1)

    @field_validator("tag_filter")
    @classmethod
    def _regex_compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"tag_filter is not a valid regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _unique_environments(self) -> Pipeline:
        names = [env.name for env in self.environments]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"environment names must be unique; repeated: {', '.join(duplicates)}")
        return self

    def matches_tag(self, tag: str) -> bool:
        return re.fullmatch(self.tag_filter, tag) is not None

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(f"pipeline {self.name!r} has no environment {name!r}")

    def environment_names(self) -> list[str]:
        return [env.name for env in self.environments]


SLACK_USER_PATTERN = r"^[UW][A-Z0-9]{2,}$"
PRINCIPAL_ARN_PATTERN = r"^arn:aws[a-z-]*:(?:iam|sts)::\d{12}:(?:root|(?:user|role|assumed-role|federated-user)/\S+)$"


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

    people: list[Person] = Field(default_factory=list)
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


class SlipwayConfig(StrictModel):
    """All pipelines, by name, and who pushes (``people.yaml``)."""

    pipelines: dict[str, Pipeline]
    people: People = Field(default_factory=People)

    def for_repository(self, repository: str) -> list[Pipeline]:
        return [p for p in self.pipelines.values() if p.repository == repository]

    def pipeline(self, name: str) -> Pipeline:
        try:
            return self.pipelines[name]
        except KeyError:
            known = ", ".join(sorted(self.pipelines)) or "none"
            raise KeyError(f"unknown pipeline {name!r} (configured: {known})") from None
