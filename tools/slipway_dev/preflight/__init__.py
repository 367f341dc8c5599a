"""`slipway preflight`: read-only checks of an AWS account (or the local cloud) before the first release.

Each check is a ``Check``: one line, ``✓ what`` or ``✗ what: the fix`` (``- what: not checked: why`` when a check
cannot be made, e.g. a task definition that exists only in a CodePipeline artifact). ``run_preflight`` yields them
in order: the stack (``stack.py``), the config bucket (``config_bucket.py``), each environment's ECS, CodeDeploy,
load balancer, IAM and ECR resources (``services.py``; for an environment in another account or region, through its
deploy role, after that role and the image's replica and repository policy are checked: ``targets.py``), then
Slack (``slack.py``). Every AWS call is a Describe*/Get*/List* call (or AssumeRole); nothing is changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

PASS, FAIL, SKIP = "✓", "✗", "-"
DEFAULT_STACK = "slipway-dev"  # the stack `sam deploy` creates with samconfig.toml's default settings


@dataclass(frozen=True)
class Check:
    """One check's outcome: passed (``fix`` is None), failed (``fix`` says what to do) or not checked (``skipped``)."""

    what: str
    fix: str | None = None
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.fix is None

    def line(self) -> str:
        if self.skipped is not None:
            return f"{SKIP} {self.what}: not checked: {self.skipped}"
        return f"{PASS} {self.what}" if self.fix is None else f"{FAIL} {self.what}: {self.fix}"


@dataclass
class Account:
    """Where the checks look: boto3 clients of one session (and endpoint, for the local cloud)."""

    session: Any
    endpoint_url: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            kwargs = {"endpoint_url": self.endpoint_url} if self.endpoint_url else {}
            self._clients[service] = self.session.client(service, **kwargs)
        return self._clients[service]

    @property
    def region(self) -> str:
        return str(self.client("sts").meta.region_name)

    @cached_property
    def account_id(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])


def aws_refusal(exc: ClientError) -> str:
    """A ClientError as a fix: which call was refused and why (AccessDenied names the permission to add)."""
    error = exc.response.get("Error", {})
    operation = exc.operation_name
    code, message = error.get("Code", "Error"), error.get("Message", "")
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        return f"AWS refused {operation} ({code}): allow it to the identity running preflight"
    return f"AWS refused {operation}: {code}: {message}"


def guarded(what: str, body: Callable[[], list[Check]]) -> list[Check]:
    """``body()``, with an unexpected AWS refusal (AccessDenied, say) turned into one failed check."""
    try:
        return body()
    except ClientError as exc:
        return [Check(what, fix=aws_refusal(exc))]


def run_preflight(
    config: Any, config_root: Path, account: Account, stack_name: str, only_env: str | None = None
) -> Iterator[Check | str]:
    """Every check, in order; a plain string is a heading (which part is checked next)."""
    from slipway_dev.preflight.config_bucket import config_bucket_checks
    from slipway_dev.preflight.services import environment_checks, repository_checks
    from slipway_dev.preflight.slack import slack_checks
    from slipway_dev.preflight.stack import read_stack, stack_checks
    from slipway_dev.preflight.targets import target_checks
    from slipway_dev.preflight.task_roles import task_roles

    selected = [
        (pipeline, env)
        for pipeline in config.pipelines.values()
        for env in pipeline.environments
        if only_env is None or env.name == only_env
    ]
    yield f"stack {stack_name} ({account.region})"
    stack = read_stack(account.client("cloudformation"), stack_name)
    roles = task_roles(config_root, account, selected)
    # The stack passes only the roles of environments in its own account; target-account.yaml those of the others.
    home_roles = task_roles(config_root, account, [(p, env) for p, env in selected if env.target is None])
    yield from stack_checks(stack, stack_name, config, home_roles)
    if stack is not None and stack.config_location:
        yield from guarded("config bucket", partial(config_bucket_checks, account.client("s3"), stack, config_root))
    for pipeline in config.pipelines.values():
        envs = [env for p, env in selected if p is pipeline]
        if not envs:
            continue
        yield f"pipeline {pipeline.name}"
        yield from guarded(f"ECR repository {pipeline.repository}", partial(repository_checks, account, pipeline, envs))
        for env in envs:
            where = f" ({env.target.account_id} / {env.target.region})" if env.target else ""
            yield f"{pipeline.name}/{env.name}{where}"
            checks = partial(target_checks if env.target else environment_checks, account, pipeline, env, roles)
            yield from guarded(f"{pipeline.name}/{env.name}", checks)
    if stack is not None:
        yield "Slack"
        yield from slack_checks(account, stack, selected, list(config.pipelines.values()))
