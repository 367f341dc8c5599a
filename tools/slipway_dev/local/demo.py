"""`slipway local demo` (and `make demo`): one release through the embedded local cloud, shown as it happens.

It pushes the example image (ECR's push event through EventBridge), then follows the release from the outside,
as a person would: the execution history, CodeDeploy's deployments and the Slack messages. When the approval
message arrives, a local approver clicks Approve (or Reject) through the signed Slack callback. At the end it
prints a summary and writes ``.slipway/demo-summary.json``. Exit 0 only when production really succeeded.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape

from slipway_dev.local import interaction
from slipway_dev.local.cloud import LocalCloud
from slipway_dev.local.handle import CloudHandle
from slipway_dev.local.images import push_image

SUMMARY_FILE = "demo-summary.json"
CAUSE_WIDTH = 160  # characters of a failure's cause on the timeline (the summary file keeps it whole)
END_STATES = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")
STEP_TEXT = {
    "PrepareEnvironment": "lock, promotion check, render + register the task definition",
    "RequestApproval": "asking for approval in Slack",
    "Deploy": "CodeDeploy blue/green deployment started, waiting for its event",
    "CheckDeployment": "no event came: checking the deployment once",
    "FinalizeRelease": "finalizing: recording the outcome, releasing locks",
}


@dataclass
class DemoOptions:
    reject: bool = False
    fail_staging: bool = False
    config_dir: Path = Path("config")
    state_dir: Path = Path(".slipway")
    timeout: float = 60.0
    approver: str | None = None
    pipeline: str = "web-app"


@dataclass
class _Seen:
    history: int = 0
    messages: int = 0
    deployments: dict[str, str] = field(default_factory=dict)
    clicked: set[str] = field(default_factory=set)


def mrkdwn_to_text(text: str) -> str:
    """Slack mrkdwn, readable in a terminal."""
    text = re.sub(r"<@([A-Z0-9]+)>", r"@\1", text)
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    return text.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&").replace("```", "")


def render_message(message: dict[str, Any]) -> str:
    """A Block Kit message as plain lines: headers, fields, sections, context and [buttons]."""
    lines: list[str] = []
    for block in message.get("blocks") or []:
        kind = block.get("type")
        text = (block.get("text") or {}).get("text", "")
        if kind == "header":
            lines.append(f"== {text} ==")
        elif kind == "section":
            if text:
                lines.append(mrkdwn_to_text(text))
            for item in block.get("fields") or []:
                lines.append("  " + mrkdwn_to_text(item.get("text", "")).replace("\n", ": ", 1))
        elif kind == "context":
            lines.append(" · ".join(mrkdwn_to_text(e.get("text", "")) for e in block.get("elements") or []))
        elif kind == "actions":
            buttons = [f"[ {e.get('text', {}).get('text', '?')} ]" for e in block.get("elements") or []]
            lines.append("   ".join(buttons))
        elif kind == "divider":
            lines.append("-" * 40)
    if not lines:
        lines.append(mrkdwn_to_text(str(message.get("text") or "")))
    return "\n".join(lines)


def default_approver(config_dir: Path, pipeline: str) -> str:
    from slipway.domain.config import LocalConfigSource, load_config

    config = load_config(LocalConfigSource(config_dir))
    for env in config.pipeline(pipeline).environments:
        if env.approval.required and env.approval.approvers.users:
            return env.approval.approvers.users[0]
    return "U0LOCALUSER"


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
        self.seen = _Seen()
        self.groups: dict[str, str] = {}  # deployment group -> environment
        self.environments: list[str] = []

    def _t(self) -> str:
        return f"[dim]{time.monotonic() - self.started:6.2f}s[/dim]"

    def run(self) -> dict[str, Any]:
        from slipway.domain.config import LocalConfigSource, load_config

        options = self.options
        pipeline = load_config(LocalConfigSource(options.config_dir)).pipeline(options.pipeline)
        self.environments = pipeline.environment_names()
        self.groups = {env.deployment.deployment_group: env.name for env in pipeline.environments}
        approver = options.approver or default_approver(options.config_dir, options.pipeline)
        self.handle.set_failing_deployments(["staging"] if options.fail_staging else [])
        counts_before = self.handle.invocation_counts()
        messages_before = len(self.handle.slack_messages())
        self.seen.messages = messages_before

        pushed = push_image(
            self.handle.client("ecr"), self.handle.client("events"), options.config_dir, repository=pipeline.repository
        )
        release_id = pushed.release_ids[pipeline.name]
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
            if execution["status"] in END_STATES:
                # what happened before the end first, so the timeline reads in order
                self._follow_deployments()
                self._follow_slack(approver)
                self._follow_history(sfn, arn)
                break
            self._follow_history(sfn, arn)
            self._follow_deployments()
            self._follow_slack(approver)
            time.sleep(0.1)
        self.handle.set_failing_deployments([])
        return self._summary(pipeline.name, release_id, execution, arn, counts_before, pushed.digest, pushed.tag)

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
                cause = escape(shorten(str(details.get("cause") or "")))
                self.say(f"{self._t()}   [red]{details.get('error')}[/red] {cause}")
            elif kind == "ExecutionSucceeded":
                self.say(f"{self._t()} [bold green]execution succeeded[/bold green]")
        self.seen.history = len(events)

    def _follow_deployments(self) -> None:
        codedeploy = self.handle.client("codedeploy")
        ids = codedeploy.list_deployments().get("deployments", [])
        if not ids:
            return
        for info in codedeploy.batch_get_deployments(deploymentIds=ids)["deploymentsInfo"]:
            deployment_id, status = info["deploymentId"], info["status"]
            if self.seen.deployments.get(deployment_id) == status:
                continue
            env = self.groups.get(info["deploymentGroupName"], info["deploymentGroupName"])
            colour = {"Succeeded": "green", "Failed": "red"}.get(status, "yellow")
            self.say(f"{self._t()}   CodeDeploy {deployment_id[:13]}… ({env}): [{colour}]{status}[/{colour}]")
            self.seen.deployments[deployment_id] = status

    def _follow_slack(self, approver: str) -> None:
        messages = self.handle.slack_messages()
        for message in messages[self.seen.messages :]:
            where = message.get("channel") or "response_url"
            title = {"chat.postMessage": "Slack message", "chat.update": "Slack update"}.get(
                str(message.get("method")), "Slack reply"
            )
            self.say(f"{self._t()}   [magenta]{title}[/magenta] in {where}:")
            for line in render_message(message).splitlines():
                self.say(f"           │ {escape(line)}")
        self.seen.messages = len(messages)
        for approval_id in interaction.approval_ids(messages):
            if approval_id in self.seen.clicked:
                continue
            self.seen.clicked.add(approval_id)
            decision: interaction.Decision = "reject" if self.options.reject else "approve"
            status, _ = interaction.click(
                messages=messages,
                approval_id=approval_id,
                decision=decision,
                user_id=approver,
                interactivity_url=self.handle.state["interactivity_url"],
                signing_secret=self.handle.state["signing_secret"],
                response_url=self.handle.response_url(approval_id),
            )
            verb = "rejected" if decision == "reject" else "approved"
            self.say(
                f"{self._t()}   [bold]@{approver} {verb}[/bold] (signed Slack block_actions callback -> HTTP {status})"
            )

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
            if info["deploymentId"] not in self.seen.deployments:
                continue  # another release's deployment on a shared local cloud
            env = self.groups.get(info["deploymentGroupName"])
            if env:
                environments[env] = {"deployment_id": info["deploymentId"], "status": info["status"].upper()}
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
