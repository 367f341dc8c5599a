"""`slipway local demo` (and `make demo`): one release through the embedded local cloud, shown as it happens.

It pushes an image of the pipeline's repository (ECR's push event through EventBridge), then follows the release
from the outside, as a person would: the execution history, the deployments (CodeDeploy's or ECS's) and the Slack
messages, only this release's on a shared cloud. When an approval message arrives, a local approver (the first of the
environment's approvers) clicks Approve (or Reject) through the signed Slack callback. An approval message is shown
once, then only what changes in it. At the end it prints a summary and writes ``.slipway/demo-summary.json``.
Exit 0 only when the pipeline's last environment really succeeded.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.markup import escape

from slipway.models.config import CodeDeployMethod
from slipway_dev.cli.errors import CliError
from slipway_dev.local import interaction
from slipway_dev.local.cloud import LocalCloud
from slipway_dev.local.demo_slack import SlackTimeline
from slipway_dev.local.handle import CloudHandle
from slipway_dev.local.images import push_image

SUMMARY_FILE = "demo-summary.json"
CAUSE_WIDTH = 160  # characters of a failure's cause on the timeline (the summary file keeps it whole)
END_STATES = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")
STEP_TEXT = {
    "PrepareEnvironment": "lock, promotion check, render + register the task definition",
    "RequestApproval": "asking for approval in Slack",
    "Deploy": "deployment started (CodeDeploy or ECS), waiting for its event",
    "CheckDeployment": "no event came: checking the deployment once",
    "FinalizeRelease": "finalizing: recording the outcome, releasing locks",
}
# demo-summary.json's status of an ECS-native environment (the service deployment's own status otherwise).
ECS_SUMMARY_STATUS = {
    "SUCCESSFUL": "SUCCEEDED",
    "ROLLBACK_SUCCESSFUL": "ROLLED_BACK",
    "ROLLBACK_FAILED": "FAILED",
    "STOPPED": "FAILED",
}
REPEAT_MIN = 80  # characters: a longer stretch already shown (a failure's cause) is printed once, then "(as above)"
SAMPLE_TAGS = ("v1.0.0", "1.0.0", "latest", "main", "release-1")  # tried after a commit SHA, for tag_filter


@dataclass
class DemoOptions:
    reject: bool = False
    fail_staging: bool = False  # the first environment's deployment fails
    config_dir: Path = Path("config")
    state_dir: Path = Path(".slipway")
    timeout: float = 60.0
    approver: str | None = None
    pipeline: str | None = None  # None: the config's only pipeline


@dataclass
class _Seen:
    history: int = 0
    deployments: dict[str, str] = field(default_factory=dict)
    clicked: set[str] = field(default_factory=set)
    texts: list[str] = field(default_factory=list)  # what the timeline showed, for printing a cause once


def choose_pipeline(config_dir: Path, name: str | None) -> Any:
    """The named pipeline, else the config's only one; a CliError when there are several and none is named."""
    from slipway.domain.config import LocalConfigSource, load_config

    config = load_config(LocalConfigSource(config_dir))
    if name is not None:
        return config.pipeline(name)
    if len(config.pipelines) != 1:
        names = ", ".join(sorted(config.pipelines))
        raise CliError(f"{config_dir} has {len(config.pipelines)} pipelines ({names}): pass --pipeline NAME")
    return next(iter(config.pipelines.values()))


def default_approver(pipeline: Any, environment: str | None = None) -> str:
    """The first approver of the environment's policy (else of the first environment that needs an approval)."""
    envs = [pipeline.environment(environment)] if environment else list(pipeline.environments)
    for env in envs:
        if env.needs_approval() and env.approval.approvers.users:
            return str(env.approval.approvers.users[0])
    where = f"{pipeline.name}/{environment}" if environment else pipeline.name
    raise CliError(f"{where} names no approver user to click as (only groups, or none): pass --user U…")


def approval_record(handle: CloudHandle, approval_id: str) -> Any:
    """The approval's record in the local cloud's StateTable (its pipeline, environment, approvers), or None."""
    from botocore.exceptions import BotoCoreError, ClientError

    from slipway.adapters.approval_store import ApprovalStore

    table = (handle.state.get("tables") or {}).get("StateTable")
    if not table:
        return None
    try:
        return ApprovalStore(handle.client("dynamodb"), str(table)).get(approval_id)
    except (BotoCoreError, ClientError, ValueError):  # a malformed id or an unreadable record: no default then
        return None


def sample_tag(pipeline: Any) -> str:
    """A tag the pipeline's tag_filter accepts: a commit SHA, else a few usual shapes."""
    sha = hashlib.sha1(uuid.uuid4().bytes).hexdigest()  # noqa: S324 - a commit-like tag, not security
    for tag in (sha, sha[:12], sha[:7], *SAMPLE_TAGS):
        if pipeline.matches_tag(tag):
            return tag
    raise CliError(f"the demo found no tag that tag_filter {pipeline.tag_filter!r} of {pipeline.name} accepts")


def shorten(text: str, width: int = CAUSE_WIDTH) -> str:
    """``text`` cut at a word boundary to about ``width`` characters, with "…" when something was left out.

    A single word longer than ``width`` (an ARN, say) is kept whole rather than cut.
    """
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width + 1)
    if cut <= 0:
        cut = text.find(" ", width)
        if cut == -1:
            return text
    return text[:cut].rstrip(" ,;:") + " …"


def release_cause(execution: dict[str, Any]) -> str | None:
    """Why a release did not succeed: the failed execution's cause, else FinalizeRelease's outcome cause."""
    if not execution:
        return None
    if execution.get("status") != "SUCCEEDED":
        cause = execution.get("cause") or execution.get("error")
        return str(cause) if cause else None
    output = json.loads(execution.get("output") or "{}")
    outcome = (output.get("finalized") or {}).get("outcome") or {}
    cause = outcome.get("cause")
    return str(cause) if cause else None


def release_status(execution: dict[str, Any]) -> str:
    """SUCCEEDED, or the outcome FinalizeRelease returned (REJECTED, EXPIRED, SUPERSEDED, FAILED)."""
    status = str(execution.get("status"))
    if status != "SUCCEEDED":
        return status
    output = json.loads(execution.get("output") or "{}")
    outcome = (output.get("finalized") or {}).get("outcome") or {}
    return str(outcome.get("status") or "SUCCEEDED")


class Demo:
    def __init__(self, handle: CloudHandle, options: DemoOptions, say: Callable[[str], None]) -> None:
        self.handle = handle
        self.options = options
        self.say = say
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC) - timedelta(seconds=1)  # ECS deployments of this run start after it
        self.seen = _Seen()
        self.groups: dict[str, str] = {}  # deployment group -> environment
        self.environments: list[str] = []
        self.pipeline: Any = None
        self.release_id = ""

    def _t(self) -> str:
        return f"[dim]{time.monotonic() - self.started:6.2f}s[/dim]"

    def run(self) -> dict[str, Any]:
        options = self.options
        self.pipeline = pipeline = choose_pipeline(options.config_dir, options.pipeline)
        self.environments = pipeline.environment_names()
        self.groups = {
            env.deployment.deployment_group: env.name
            for env in pipeline.environments
            if isinstance(env.deployment, CodeDeployMethod)
        }
        self.handle.set_failing_deployments([self.environments[0]] if options.fail_staging else [])
        counts_before = self.handle.invocation_counts()
        slack = SlackTimeline(skip=len(self.handle.slack_messages()))

        pushed = push_image(
            self.handle.client("ecr"),
            self.handle.client("events"),
            options.config_dir,
            repository=pipeline.repository,
            tag=sample_tag(pipeline),
        )
        self.release_id = release_id = pushed.release_ids[pipeline.name]
        slack.follow_release(release_id, pushed.tag, pushed.digest)
        self.say(
            f"{self._t()} [bold]pushed[/bold] {pushed.repository}:{pushed.tag[:12]} "
            f"digest {pushed.digest[:19]}… -> ECR push event sent"
        )
        arn = self.handle.execution_arn(release_id)
        sfn = self.handle.client("stepfunctions")
        execution: dict[str, Any] = {}
        deadline = time.monotonic() + options.timeout
        while time.monotonic() < deadline:
            try:
                execution = sfn.describe_execution(executionArn=arn)
            except sfn.exceptions.ExecutionDoesNotExist:
                time.sleep(0.05)
                continue
            ended = execution["status"] in END_STATES
            if ended:  # what happened before the end first, so the timeline reads in order
                self._follow_deployments()
                self._follow_slack(slack)
            self._follow_history(sfn, arn)
            if ended:
                break
            self._follow_deployments()
            self._follow_slack(slack)
            time.sleep(0.1)
        self.handle.set_failing_deployments([])
        summary = self._summary(pipeline.name, release_id, execution, arn, counts_before, pushed.digest, pushed.tag)
        colour = "green" if summary["status"] == "SUCCEEDED" else "yellow"
        self.say(f"{self._t()} [bold {colour}]release {summary['status']}[/bold {colour}]")
        return summary

    # -------------------------------------------------------------- following the release
    def _follow_history(self, sfn: Any, arn: str) -> None:
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events.extend(page["events"])
        for event in events[self.seen.history :]:
            kind = event["type"]
            if kind == "ExecutionStarted":
                self.say(f"{self._t()} [bold]release started[/bold] (Step Functions execution {arn.rsplit(':', 1)[1]})")
            elif kind == "MapIterationStarted":
                index = event["mapIterationStartedEventDetails"]["index"]
                name = self.environments[index] if index < len(self.environments) else str(index)
                self.say(f"{self._t()} [bold cyan]{name}[/bold cyan]")
            elif kind == "TaskStateEntered":
                state = event["stateEnteredEventDetails"]["name"]
                self.say(f"{self._t()}   {state}: {STEP_TEXT.get(state, '')}")
            elif kind in ("TaskFailed", "ExecutionFailed"):
                details = event.get("taskFailedEventDetails") or event.get("executionFailedEventDetails") or {}
                cause = self._once(" ".join(str(details.get("cause") or "").split()))
                shown = f" {escape(shorten(cause))}" if cause else ""
                self.say(f"{self._t()}   [red]{details.get('error')}[/red]{shown}")
        self.seen.history = len(events)

    def _once(self, text: str) -> str:
        """``text`` with a long stretch the timeline showed already (a failure's cause, which comes back in each
        notice and as the execution's cause) replaced by "(as above)"."""
        from difflib import SequenceMatcher

        shown = text
        for earlier in self.seen.texts:
            match = SequenceMatcher(None, text, earlier, autojunk=False).find_longest_match()
            if match.size >= REPEAT_MIN or (match.size == len(text) and text):
                shown = " ".join(f"{text[: match.a]} (as above) {text[match.a + match.size :]}".split())
                break
        self.seen.texts.append(text)
        return shown

    def _service_deployments(self) -> list[tuple[str, str, str]]:
        """(environment, service deployment ARN, ECS status) of this run's ECS-native deployments, oldest first:
        those of each ECS environment's service created since the demo started (ECS keeps no description)."""
        ecs = self.handle.client("ecs")
        found: list[tuple[Any, str, str, str]] = []
        for env in self.pipeline.environments:
            if env.deployment.type != "ecs":
                continue
            briefs = ecs.list_service_deployments(
                cluster=env.cluster, service=env.service, createdAt={"after": self.started_at}
            ).get("serviceDeployments", [])
            found += [(b.get("createdAt"), env.name, b["serviceDeploymentArn"], b["status"]) for b in briefs]
        return [(env, arn, status) for _, env, arn, status in sorted(found, key=lambda f: str(f[0]))]

    def _follow_deployments(self) -> None:
        for env, arn, status in self._service_deployments():
            if self.seen.deployments.get(arn) != status:
                colour = {"SUCCESSFUL": "green", "ROLLBACK_SUCCESSFUL": "red"}.get(status, "yellow")
                self.say(f"{self._t()}   ECS …{arn.rsplit('/', 1)[-1][:10]} ({env}): [{colour}]{status}[/{colour}]")
                self.seen.deployments[arn] = status
        codedeploy = self.handle.client("codedeploy")
        ids = codedeploy.list_deployments().get("deployments", [])
        if not ids:
            return
        for info in codedeploy.batch_get_deployments(deploymentIds=ids)["deploymentsInfo"]:
            if self.release_id not in str(info.get("description") or ""):
                continue  # another release's deployment on a shared local cloud
            deployment_id, status = info["deploymentId"], info["status"]
            if self.seen.deployments.get(deployment_id) == status:
                continue
            env = self.groups.get(info["deploymentGroupName"], info["deploymentGroupName"])
            colour = {"Succeeded": "green", "Failed": "red"}.get(status, "yellow")
            self.say(f"{self._t()}   CodeDeploy {deployment_id[:13]}… ({env}): [{colour}]{status}[/{colour}]")
            self.seen.deployments[deployment_id] = status

    def _follow_slack(self, slack: SlackTimeline) -> None:
        messages = self.handle.slack_messages()
        for heading, lines in slack.new_entries(messages):
            self.say(f"{self._t()}   [magenta]{escape(heading)}[/magenta]")
            for line in lines:
                self.say(f"           │ {escape(self._once(line))}")
        for approval_id in slack.approval_ids():
            if approval_id in self.seen.clicked:
                continue
            self.seen.clicked.add(approval_id)
            self._click(approval_id, messages)

    def _click(self, approval_id: str, messages: list[dict[str, Any]]) -> None:
        record = approval_record(self.handle, approval_id)
        approver = self.options.approver or (
            record.approvers_users[0]
            if record is not None and record.approvers_users
            else default_approver(self.pipeline, record.environment if record else None)
        )
        decision: interaction.Decision = "reject" if self.options.reject else "approve"
        before = len(self.handle.slack_messages())
        status, _ = interaction.click(
            messages=messages,
            approval_id=approval_id,
            decision=decision,
            user_id=approver,
            interactivity_url=self.handle.state["interactivity_url"],
            signing_secret=self.handle.state["signing_secret"],
            response_url=self.handle.response_url(approval_id),
        )
        refused = interaction.refusal(self.handle.slack_messages()[before:], approval_id)
        verb = "rejected" if decision == "reject" else "approved"
        outcome = f"[red]refused: {escape(refused)}[/red]" if refused else f"HTTP {status}"
        self.say(f"{self._t()}   [bold]@{approver} {verb}[/bold] (signed Slack block_actions callback -> {outcome})")

    # -------------------------------------------------------------- the summary
    def _summary(
        self,
        pipeline: str,
        release_id: str,
        execution: dict[str, Any],
        arn: str,
        counts_before: dict[str, int],
        digest: str,
        tag: str,
    ) -> dict[str, Any]:
        codedeploy = self.handle.client("codedeploy")
        ids = codedeploy.list_deployments().get("deployments", [])
        infos = codedeploy.batch_get_deployments(deploymentIds=ids)["deploymentsInfo"] if ids else []
        environments: dict[str, dict[str, Any]] = {
            name: {"deployment_id": None, "status": "NOT_DEPLOYED"} for name in self.environments
        }
        for info in sorted(infos, key=lambda d: d.get("createTime") or 0):
            if release_id not in str(info.get("description") or ""):
                continue  # another release's deployment on a shared local cloud
            env = self.groups.get(info["deploymentGroupName"])
            if env:
                environments[env] = {"deployment_id": info["deploymentId"], "status": info["status"].upper()}
        for env, deployment_arn, ecs_status in self._service_deployments():
            environments[env] = {
                "deployment_id": deployment_arn,
                "status": ECS_SUMMARY_STATUS.get(ecs_status, ecs_status),
            }
        sfn = self.handle.client("stepfunctions")
        history: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            history.extend(page["events"])
        counts_after = self.handle.invocation_counts()
        by_function = {
            name: counts_after.get(name, 0) - counts_before.get(name, 0)
            for name in counts_after
            if counts_after.get(name, 0) - counts_before.get(name, 0)
        }
        status = release_status(execution) if execution else "NOT_STARTED"
        cause = release_cause(execution) if status != "SUCCEEDED" else None
        if status != "SUCCEEDED" and not cause:
            cause = self._audit_cause(release_id)
        return {
            "pipeline": pipeline,
            "release_id": release_id,
            "image": {"tag": tag, "digest": digest},
            "status": status,
            "cause": cause,
            "execution_status": execution.get("status"),
            "environments": environments,
            "state_transitions": sum(1 for e in history if e["type"].endswith("StateEntered")),
            "lambda_invocations": sum(by_function.values()),
            "lambda_invocations_by_function": by_function,
            "wall_seconds": round(time.monotonic() - self.started, 3),
        }

    def _audit_cause(self, release_id: str) -> str | None:
        """The cause FinalizeRelease recorded in the audit table (RELEASE#<id> / META), if any."""
        from botocore.exceptions import BotoCoreError, ClientError

        from slipway.adapters.audit import AuditLog

        table = (self.handle.state.get("tables") or {}).get("AuditTable")
        if not table:
            return None
        try:
            record = AuditLog(self.handle.client("dynamodb"), str(table)).release(release_id)
        except (BotoCoreError, ClientError):  # the summary is written anyway; the cause is a nicety
            return None
        return record.cause if record else None


def production_succeeded(summary: dict[str, Any]) -> bool:
    """The release succeeded through its last environment (production, in the example)."""
    environments = summary.get("environments") or {}
    last = list(environments)[-1] if environments else None
    return bool(summary.get("status") == "SUCCEEDED" and last and environments[last].get("status") == "SUCCEEDED")


def run_demo(options: DemoOptions, handle: CloudHandle | None, say: Callable[[str], None]) -> dict[str, Any]:
    """Run the demo on ``handle`` (a running cloud) or on a LocalCloud started here; write the summary file."""
    started = time.monotonic()
    cloud: LocalCloud | None = None
    if handle is None:
        say("[dim]starting the embedded local cloud (moto, the real template and handlers)…[/dim]")
        cloud = LocalCloud(  # no local.json: a `slipway local up` may own the state folder
            config_dir=options.config_dir,
            codedeploy_delay=0.5,
            time_scale=0.0,
            log_level="ERROR",
        ).start()
        handle = CloudHandle(cloud.state())
        say(f"[dim]local cloud up at {cloud.endpoint} in {time.monotonic() - started:.1f}s[/dim]")
    try:
        summary = Demo(handle, options, say).run()
    finally:
        if cloud is not None:
            cloud.stop()
    summary["total_seconds"] = round(time.monotonic() - started, 3)
    options.state_dir.mkdir(parents=True, exist_ok=True)
    (options.state_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    return summary
