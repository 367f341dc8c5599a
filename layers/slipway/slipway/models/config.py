"""Pipeline configuration: what `config/pipelines/*.yaml` may say, validated by pydantic.

A pipeline takes one ECR repository's images through an ordered list of environments. Every error names the
file, the path inside it and the problem (see ``slipway.domain.config.load_config``). The field descriptions and
examples here are the configuration reference: ``config/schema.json`` and ``docs/configuration.md`` are generated
from these models (``make config-reference``).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from slipway.models import deployment as deployment_models
from slipway.models.compiled import LazyPipelines
from slipway.models.deployment import CodeDeployMethod, DeploymentMethod, EcsMethod, StrictModel
from slipway.models.people import People, Person
from slipway.models.target import Target

__all__ = [
    "CodeDeployMethod",
    "EcsMethod",
    "People",
    "Person",
    "StrictModel",
]  # where they have always been imported from

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"


def _variable_value(value: object) -> object:
    """A variable is text or a whole number. YAML reads ``true``/``yes``/``on`` as a boolean, which would render as
    ``1``; anything else (a float, null, a list) has no single text form: both are refused, with the fix."""
    if isinstance(value, bool):
        raise ValueError(
            f"{str(value).lower()} is a YAML boolean and would render as {int(value)!r}: "
            f'quote it ("{str(value).lower()}") if you mean the text'
        )
    if value is None or not isinstance(value, str | int):
        shown = "null" if value is None else type(value).__name__
        raise ValueError(f"a variable is a string or a whole number, not {shown}: quote it")
    return value


VariableValue = Annotated[str | int, BeforeValidator(_variable_value)]


class Approvers(StrictModel):
    """Who may decide an approval: Slack users, and members of Slack user groups."""

    users: list[Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,}$")]] = Field(
        default_factory=list,
        description="Slack user ids (U…/W…) allowed to decide (a profile's ⋮ menu → Copy member ID).",
        examples=[["U0APPROVER1", "U0APPROVER2"]],
    )
    groups: list[Annotated[str, Field(pattern=r"^S[A-Z0-9]{2,}$")]] = Field(
        default_factory=list,
        description="Slack user group ids (S…) whose members may decide; read with usergroups.users.list.",
        examples=[["S0RELEASERS"]],
    )


class ApprovalPolicy(StrictModel):
    """The Slack approval gate of an environment: who, how many, how long."""

    required: bool = Field(
        default=False, description="Hold this environment until enough approvers click Approve in Slack."
    )
    approvers: Approvers = Field(default_factory=Approvers, description="Who may approve or reject.")
    min_approvals: int = Field(default=1, ge=1, le=10, description="N distinct approvers (N-of-M).", examples=[2])
    timeout_minutes: int = Field(
        default=60,
        ge=1,
        le=7 * 24 * 60,
        description="How long the approval waits before the release ends EXPIRED.",
        examples=[120],
    )
    allow_pusher: bool = Field(default=False, description="May the person who pushed the image approve it?")
    stage: Literal["before_deploy", "after_test_traffic"] = Field(
        default="before_deploy",
        description="before_deploy: approve the diff before anything runs. after_test_traffic (ECS blue/green, "
        "linear, canary; CodeDeploy blue/green with the group's ready wait): the deployment pauses once the new "
        "revision serves test traffic; approve sends it on, reject rolls it back (docs/approvals.md).",
    )
    test_url: str | None = Field(
        default=None,
        description="after_test_traffic: where approvers look at the new revision (e.g. the test listener's URL).",
        examples=["https://test.api.example.com"],
    )

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


class TaskDefinitionSource(StrictModel):
    """Where the task definition comes from.

    - ``template``: a JSON file with ``${var}`` placeholders (seed style); ``path`` is relative to the config
      folder or an ``s3://`` URI.
    - ``artifact``: a file of the CodePipeline input artifact (``taskdef-staging.json``) with ``<IMAGE1_NAME>``.
    - ``live``: the service's current task definition with only the named containers' images replaced.
    """

    source: Literal["template", "artifact", "live"] = Field(
        description="template (a file in the config folder or on S3), artifact (a file of the CodePipeline input "
        "artifact) or live (what the service runs now, with only the named containers' images replaced)."
    )
    path: str | None = Field(
        default=None,
        description="For template: relative to the config folder, or s3://bucket/key. For artifact: the file name "
        "in the input artifact. Not allowed for live.",
        examples=["taskdefs/app-task.json"],
    )

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

    path: str | None = Field(
        default=None,
        description="An AppSpec template (YAML or JSON, with <TASK_DEFINITION> and ${var}), relative to the config "
        "folder or s3://bucket/key.",
        examples=["appspecs/appspec.yaml"],
    )
    container_name: str | None = Field(
        default=None, description="Without path: the container behind the load balancer.", examples=["web"]
    )
    container_port: int | None = Field(
        default=None, ge=1, le=65535, description="Without path: its port behind the load balancer.", examples=[8080]
    )
    hooks: dict[
        Literal[
            "BeforeInstall",
            "AfterInstall",
            "AfterAllowTestTraffic",
            "BeforeAllowTraffic",
            "AfterAllowTraffic",
        ],
        str,
    ] = Field(
        default_factory=dict,
        description="CodeDeploy lifecycle hooks: event -> Lambda function name or ARN.",
        examples=[{"AfterAllowTestTraffic": "smoke-test"}],
    )

    @model_validator(mode="after")
    def _template_or_container(self) -> AppSpecSpec:
        if self.path is None and (self.container_name is None or self.container_port is None):
            raise ValueError("give appspec.path (a template) or both appspec.container_name and container_port")
        return self


class ScanGate(StrictModel):
    """Wait for the ECR scan on push and act on findings at or above a severity."""

    threshold: Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"] = Field(
        default="HIGH", description="The lowest severity that counts as a finding."
    )
    action: Literal["refuse", "require_approval"] = Field(
        default="refuse", description="refuse the release, or require an approval (approvers and a channel needed)."
    )


class Environment(StrictModel):
    """One stage of the pipeline: an ECS service, deployed by CodeDeploy or by ECS itself, maybe behind an
    approval."""

    name: str = Field(pattern=NAME_PATTERN, description="The environment's name.", examples=["production"])
    cluster: str = Field(min_length=1, description="The ECS cluster.", examples=["production-cluster"])
    service: str = Field(
        min_length=1,
        description="The ECS service (deploymentController CODE_DEPLOY or ECS, as deployment.type says).",
        examples=["api"],
    )
    deployment: DeploymentMethod = Field(description="How the new task definition is rolled out.")
    task_definition: TaskDefinitionSource = Field(description="Where the task definition comes from.")
    containers: list[str] = Field(
        min_length=1,
        description="Containers whose image becomes the release digest; a template's container that runs another "
        "image of the pipeline's repository must be named here (slipway validate checks).",
        examples=[["web", "worker"]],
    )
    variables: dict[str, VariableValue] = Field(
        default_factory=dict,
        description="Values for ${name} placeholders in the templates: text or whole numbers (quote true/false). "
        "A value may reference the built-ins: image_uri, image_digest, pipeline, environment, release_id, commit.",
        examples=[{"app_image": "${image_uri}", "app_port": 8080, "log_level": "info"}],
    )
    appspec: AppSpecSpec | None = Field(
        default=None,
        description="deployment.type codedeploy: the CodeDeploy AppSpec, a template or the container and port.",
    )
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy, description="The Slack approval gate.")
    slack_channel: str | None = Field(
        default=None,
        description="Where this environment's approval is posted (a name or an id); defaults to the pipeline's.",
        examples=["#deploys-production"],
    )
    allow_plaintext: list[str] = Field(
        default_factory=list,
        description="Environment variable names allowed to hold literal values although they look secret.",
        examples=[["PUBLIC_TOKEN_URL"]],
    )
    scan_gate: ScanGate | None = Field(
        default=None, description="Act on the ECR scan on push (the repository needs scan-on-push)."
    )
    target: Target | None = Field(
        default=None,
        description="Another account and/or region for this environment (docs/accounts.md); without it the "
        "environment is in the control plane's own account and region.",
    )

    @field_validator("deployment", mode="before")
    @classmethod
    def _default_type(cls, value: object) -> object:
        """``type`` defaults to codedeploy, as it did before ECS-native deployments existed."""
        if isinstance(value, dict) and "type" not in value:
            return {**value, "type": "codedeploy"}
        return value

    @model_validator(mode="after")
    def _approval_stage_fits_the_deployment(self) -> Environment:
        if self.approval.stage != "after_test_traffic":
            return self
        if not self.approval.required or self.target is not None:  # a target's hooks would act in this account
            raise ValueError(deployment_models.AFTER_TEST_TRAFFIC_NEEDS)
        if isinstance(self.deployment, CodeDeployMethod):
            return self  # the deployment group's ready wait holds it (docs/deployers.md); preflight checks the group
        if self.deployment.strategy in (None, "ROLLING"):
            shown = self.deployment.strategy or "unset (the service's own)"
            raise ValueError(
                f"approval.stage after_test_traffic needs test traffic, and deployment.strategy is {shown}: set "
                "strategy BLUE_GREEN, LINEAR or CANARY, or use approval.stage before_deploy (rolling has no test "
                "traffic)"
            )
        return self

    @model_validator(mode="after")
    def _appspec_for_codedeploy_only(self) -> Environment:
        if isinstance(self.deployment, CodeDeployMethod) and self.appspec is None:
            raise ValueError(
                "deployment.type is codedeploy, so appspec is required (a path, or container_name and port)"
            )
        if isinstance(self.deployment, EcsMethod) and self.appspec is not None:
            raise ValueError("deployment.type is ecs: remove appspec (it is CodeDeploy's; ECS deploys the revision)")
        return self

    def needs_approval(self) -> bool:
        """Approval is required, or the scan gate may require one."""
        return self.approval.required or (self.scan_gate is not None and self.scan_gate.action == "require_approval")


class Pipeline(StrictModel):
    """One file in ``config/pipelines/``: an ECR repository's images, through its environments in order."""

    name: str = Field(pattern=NAME_PATTERN, description="The pipeline's name (unique).", examples=["go-api"])
    repository: str = Field(
        pattern=r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$",
        description="The ECR repository whose pushes start releases (it must be in the stack's RepositoryNames).",
        examples=["go-api"],
    )
    tag_filter: str = Field(
        default=".*",
        description="Regular expression a pushed tag must match (fullmatch).",
        examples=["[0-9a-f]{40}"],
    )
    concurrency: Literal["queue", "supersede"] = Field(
        default="queue",
        description="queue: a later release waits its turn; supersede: a newer release cancels an older one still "
        "waiting.",
    )
    slack_channel: str | None = Field(
        default=None,
        description="Where release notices go, and approvals of environments without their own channel.",
        examples=["#deploys"],
    )
    environments: list[Environment] = Field(min_length=1, description="In order: each waits for the one before.")

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

    @model_validator(mode="after")
    def _approvals_can_be_asked(self) -> Pipeline:
        """An environment that may need an approval has approvers and a channel to ask in: otherwise the release
        would fail at RequestApproval, after the environments before it have deployed."""
        problems: list[InitErrorDetails] = []
        for index, env in enumerate(self.environments):
            if not env.needs_approval():
                continue
            why = "approval.required is true" if env.approval.required else "scan_gate.action is require_approval"
            if not (env.slack_channel or self.slack_channel):
                problems.append(
                    _error(
                        ("environments", index, "slack_channel"),
                        f"{why} but no Slack channel is named, so the approval could not be asked: set "
                        "slack_channel on this environment or on the pipeline",
                    )
                )
            if not env.approval.approvers.users and not env.approval.approvers.groups:
                problems.append(
                    _error(
                        ("environments", index, "approval", "approvers"),
                        f"{why} but no approvers are named: add Slack user ids under approval.approvers.users "
                        "or user group ids under approval.approvers.groups",
                    )
                )
        if problems:
            # Raised as a ValidationError so each problem keeps its own path (a ValueError would name only the
            # pipeline).
            raise ValidationError.from_exception_data(type(self).__name__, problems)
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


def _error(loc: tuple[str | int, ...], message: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("config", message), loc=loc, input=None)


class SlipwayConfig(StrictModel):
    """All pipelines, by name, and who pushes (``people.yaml``)."""

    pipelines: Mapping[str, Pipeline]  # a LazyPipelines when read from the compiled file
    people: People = Field(default_factory=People)
    # An event's work must not grow with the number of pipelines (hundreds, in an organisation): an index by
    # repository, built at the first look-up of each loaded config (again only for other pipelines: model_copy).
    _by_repository: dict[str, list[Pipeline]] = PrivateAttr(default_factory=dict)
    _indexed: Mapping[str, Pipeline] | None = PrivateAttr(default=None)

    def for_repository(self, repository: str) -> list[Pipeline]:
        """The pipelines that take this repository's images, in config order: one dictionary look-up."""
        if isinstance(self.pipelines, LazyPipelines):  # indexed from the compiled file's JSON
            return self.pipelines.for_repository(repository)
        if self._indexed is not self.pipelines:
            index: dict[str, list[Pipeline]] = {}
            for pipeline in self.pipelines.values():
                index.setdefault(pipeline.repository, []).append(pipeline)
            self._by_repository, self._indexed = index, self.pipelines
        return list(self._by_repository.get(repository, ()))

    def pipeline(self, name: str) -> Pipeline:
        try:
            return self.pipelines[name]
        except KeyError:
            known = ", ".join(sorted(self.pipelines)) or "none"
            raise KeyError(f"unknown pipeline {name!r} (configured: {known})") from None


def known_keys(loc: tuple[str | int, ...]) -> list[str] | None:
    """The keys a pipeline file may have at ``loc`` (a pydantic error location), or None when it is free-form."""
    current: Any = Pipeline
    for part in loc:
        current = _unwrap(current, part)
        if current is None:
            return None
    model = _unwrap_model(current)
    return list(model.model_fields) if model is not None else None


def _unwrap(annotation: Any, part: str | int) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):  # a discriminated union's tag (deployment.type) is part of the path
            fields = getattr(arg, "model_fields", {})
            if _literal_of(fields.get("type")) == part:
                return arg
    model = _unwrap_model(annotation)
    if model is not None:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        return field.annotation if field is not None else None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and isinstance(part, int):
        return args[0]
    if origin is dict and isinstance(part, str):
        return args[1]
    return None


def _literal_of(field: Any) -> object:
    args = typing.get_args(field.annotation) if field is not None else ()
    return args[0] if len(args) == 1 else None


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):  # ``ScanGate | None``
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None
