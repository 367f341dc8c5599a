"""`make sam-local`: every sample event through `sam local invoke` (Docker) against the embedded local cloud.

Skipped, saying so, when Docker is not usable. Otherwise it builds for this machine's architecture (emulating arm64
on x86_64 blows the 30 s timeout), starts `slipway local up` where containers reach it, and invokes each function
with its sample event and the cloud's `env.json`. SAM exits 0 even when the function raises, so the printed
payload is what is judged. Then the approve path: the release the ECR push started waits for approval, a freshly
signed click (`slipway local approve --write-event`) goes through `sam local invoke SlackInteractionsFunction`, and
the approval must be recorded.

Where no image registry is reachable, `tools/sam-local-image/build.sh` builds the Lambda base image SAM runs on; the
image says so (label OFFLINE_IMAGE_LABEL), and SAM is then told not to pull it (`--skip-pull-image`).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slipway_dev.local.base import wait_for
from slipway_dev.local.events import EVENTS_DIR
from slipway_dev.template import PROJECT_ROOT

if TYPE_CHECKING:
    from slipway_dev.local.handle import CloudHandle

SAMPLE_EVENT_FUNCTIONS = {
    "ecr-push": "EcrPushFunction",
    "cloudtrail-ecr-putimage": "EcrPushFunction",
    "codepipeline-job": "CodePipelineJobFunction",
    "codedeploy-": "DeploymentEventsFunction",
    "ecs-deployment-": "DeploymentEventsFunction",
    "ecs-hook-": "RequestApprovalFunction",
    "slack-": "SlackInteractionsFunction",
    "sns-codepipeline-approval": "CodePipelineApprovalFunction",
}
# who pushed before what was pushed (the pusher rule); the continuation needs the execution the first job started
ORDER = ["cloudtrail-ecr-putimage.json", "ecr-push.json", "codepipeline-job.json", "codepipeline-job-continuation.json"]
STALE_SIGNATURE = "slack-block-actions.json"  # signed long ago: the handler must answer 401
STARTS_THE_RELEASE = "ecr-push.json"  # the release whose approval is then clicked
BUILD_DIR = PROJECT_ROOT / ".aws-sam" / "sam-local"
STATE_DIR = PROJECT_ROOT / ".slipway" / "sam-local"
CLOUD_LOG = PROJECT_ROOT / ".slipway" / "sam-local.log"  # `slipway local up`'s output (the in-process handlers' logs)
BASE_IMAGE = "public.ecr.aws/lambda/python:3.13-{architecture}"  # what SAM CLI 1.170 runs python3.13 on
OFFLINE_IMAGE_LABEL = "slipway.sam-local-image"  # set by tools/sam-local-image/build.sh


def function_for(event_file: str) -> str:
    """The function a sample event in events/ belongs to."""
    for prefix, function in SAMPLE_EVENT_FUNCTIONS.items():
        if event_file.startswith(prefix):
            return function
    raise KeyError(f"events/{event_file}: add the function it belongs to to SAMPLE_EVENT_FUNCTIONS")


def sample_events(events_dir: Path = EVENTS_DIR) -> list[Path]:
    """The sample events, those another depends on first."""
    return sorted(
        events_dir.glob("*.json"), key=lambda p: (ORDER.index(p.name) if p.name in ORDER else len(ORDER), p.name)
    )


def docker_problem(run: Callable[..., Any] = subprocess.run) -> str | None:
    """Why Docker cannot run `sam local invoke` here, or None."""
    if shutil.which("docker") is None:
        return "no docker command on PATH"
    answer = run(["docker", "info", "--format", "{{.OperatingSystem}}"], capture_output=True, text=True, check=False)
    if answer.returncode != 0:
        last_line = (answer.stderr.strip().splitlines() or ["?"])[-1]
        return f"the Docker daemon does not answer (`docker info`: {last_line})"
    return None


def docker_desktop(run: Callable[..., Any] = subprocess.run) -> bool:
    answer = run(["docker", "info", "--format", "{{.OperatingSystem}}"], capture_output=True, text=True, check=False)
    return "Docker Desktop" in answer.stdout


def offline_base_image(architecture: str, run: Callable[..., Any] = subprocess.run) -> bool:
    """Whether the local base image is the one tools/sam-local-image/build.sh made: SAM must not pull over it."""
    answer = run(
        [
            "docker",
            "image",
            "inspect",
            "--format",
            f'{{{{ index .Config.Labels "{OFFLINE_IMAGE_LABEL}" }}}}',
            BASE_IMAGE.format(architecture=architecture),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return answer.returncode == 0 and answer.stdout.strip() not in {"", "<no value>"}


def lambda_architecture(machine: str | None = None) -> str:
    """The template's Architecture for this machine: native speed in the container."""
    return "arm64" if (machine or platform.machine()).lower() in {"arm64", "aarch64"} else "x86_64"


def response(stdout: str) -> Any:
    """The function's response: SAM prints it as the last JSON line of stdout (None when there is none)."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def judge(stdout: str) -> tuple[bool, str]:
    """SAM exits 0 even when the function raised: the printed response says how it went (ok, summary)."""
    payload = response(stdout)
    if payload is None:
        return False, "no response printed"
    if isinstance(payload, dict) and "errorType" in payload:
        return False, f"{payload['errorType']}: {payload.get('errorMessage', '')}"[:200]
    if isinstance(payload, dict) and "statusCode" in payload:
        return True, f"HTTP {payload['statusCode']}"
    return True, json.dumps(payload)[:120]


@dataclass
class Outcome:
    event: str
    function: str
    ok: bool
    summary: str
    seconds: float
    payload: Any = None  # the function's response as SAM printed it


class SamLocal:
    def __init__(self, sam: str, slipway: list[str], architecture: str, skip_pull: bool = False) -> None:
        self.sam = sam
        self.slipway = slipway
        self.architecture = architecture
        self.skip_pull = skip_pull
        self.state: dict[str, Any] = {}
        self.env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-2",
            "AWS_REGION": "eu-west-2",
            "SAM_CLI_TELEMETRY": "0",
        }

    def build(self) -> None:
        subprocess.run(  # noqa: S603 - argv of our own tools (the SAM CLI, slipway)
            [
                self.sam,
                "build",
                "--template",
                str(PROJECT_ROOT / "template.yaml"),
                "--build-dir",
                str(BUILD_DIR),
                "--parameter-overrides",
                f"Architecture={self.architecture}",
            ],
            cwd=PROJECT_ROOT,
            env=self.env,
            check=True,
        )

    def parameters(self) -> list[str]:
        values = {**self.state["sam_parameters"], "Architecture": self.architecture}
        return [f"{name}={value}" for name, value in values.items() if value]

    def invoke(self, function: str, event: Path) -> Outcome:
        started = time.monotonic()
        done = subprocess.run(  # noqa: S603 - argv of our own tools (the SAM CLI, slipway)
            [
                self.sam,
                "local",
                "invoke",
                function,
                "-e",
                str(event),
                "--template",
                str(BUILD_DIR / "template.yaml"),
                "--env-vars",
                self.state["sam_env_vars"],
                *(["--skip-pull-image"] if self.skip_pull else []),
                "--parameter-overrides",
                *self.parameters(),
            ],
            cwd=PROJECT_ROOT,
            # SAM asks STS for the account id before each invoke: the local cloud answers (else ~9 s of retries
            # towards AWS, which this machine must not call)
            env={**self.env, "AWS_ENDPOINT_URL": self.state["aws_endpoint"]},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        ok, summary = judge(done.stdout)
        if done.returncode != 0:
            last_line = (done.stderr.strip().splitlines() or ["?"])[-1]
            ok, summary = False, f"sam exited {done.returncode}: {last_line}"[:200]
        seconds = round(time.monotonic() - started, 1)
        return Outcome(event.name, function, ok, summary, seconds, response(done.stdout))


def run(sam: str, slipway: list[str]) -> int:
    from slipway_dev.local.handle import CloudHandle

    problem = docker_problem()
    if problem:
        print(f"sam-local: SKIPPED, {problem}. Nothing was invoked; install Docker to run it (docs/local-cloud.md).")
        return 0
    architecture = lambda_architecture()
    runner = SamLocal(sam, slipway, architecture, skip_pull=offline_base_image(architecture))
    runner.build()
    host = "127.0.0.1" if docker_desktop() else "docker-bridge"
    CLOUD_LOG.parent.mkdir(parents=True, exist_ok=True)
    with CLOUD_LOG.open("w") as log:  # a file, not a pipe: nobody reads the cloud's output while it runs
        cloud = subprocess.Popen(  # noqa: S603 - argv of our own tools (slipway)
            [
                *slipway,
                "local",
                "up",
                "--port",
                "0",
                "--host",
                host,
                "--state-dir",
                str(STATE_DIR),
                "--codedeploy-delay",
                "1",
                "--time-scale",
                "0",
            ],
            cwd=PROJECT_ROOT,
            env=runner.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    outcomes: list[Outcome] = []
    try:
        runner.state = wait_for(lambda: _cloud_state(cloud), 90, "slipway local up", interval=0.5)
        for event in sample_events():
            outcome = runner.invoke(function_for(event.name), event)
            if event.name == STALE_SIGNATURE:
                outcome.ok = outcome.summary == "HTTP 401"
                outcome.summary += " (a stale signature, refused as it must be)" if outcome.ok else " (expected 401)"
            outcomes.append(outcome)
        ecr_push = next(o for o in outcomes if o.event == STARTS_THE_RELEASE)
        outcomes.append(_approve(runner, CloudHandle(runner.state), ecr_push))
    except CloudExited as exc:
        print(f"sam-local: FAILED, {exc}")
        return 1
    finally:
        cloud.send_signal(signal.SIGINT)
        try:
            cloud.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cloud.kill()
            cloud.wait()
    width = max(len(o.event) for o in outcomes)
    for o in outcomes:
        print(f"{'ok ' if o.ok else 'BAD'} {o.event:{width}}  {o.function:30} {o.seconds:6.1f}s  {o.summary}")
    failed = [o for o in outcomes if not o.ok]
    total = sum(o.seconds for o in outcomes)
    print(
        f"sam-local: {len(outcomes) - len(failed)}/{len(outcomes)} invocations as expected ({runner.architecture}, "
        f"{total:.0f}s of invocations; the local cloud's log: {CLOUD_LOG.relative_to(PROJECT_ROOT)})"
    )
    if any(o.summary.startswith("sam exited") and "public.ecr.aws" in o.summary for o in failed):
        print("sam-local: SAM could not pull its Lambda image (no registry?): tools/sam-local-image/build.sh builds it")
    return 1 if failed else 0


class CloudExited(RuntimeError):
    """`slipway local up` stopped before it answered."""


def _cloud_state(cloud: subprocess.Popen[Any]) -> dict[str, Any] | None:
    from slipway_dev.local.handle import running_state

    if cloud.poll() is not None:
        raise CloudExited(f"`slipway local up` exited {cloud.returncode} (its output: {CLOUD_LOG})")
    return running_state(STATE_DIR)


def release_id(payload: Any) -> str | None:
    """The release an ECR push started, from EcrPushFunction's response."""
    outcomes = payload.get("outcomes") if isinstance(payload, dict) else None
    started = [o for o in outcomes or [] if isinstance(o, dict) and o.get("status") == "started"]
    return str(started[0]["release_id"]) if started and started[0].get("release_id") else None


def _approve(runner: SamLocal, handle: CloudHandle, ecr_push: Outcome) -> Outcome:
    """Approve the release the ECR push started with a click signed now, through `sam local invoke`."""
    from slipway.adapters.approval_store import ApprovalStore
    from slipway.models.records import ApprovalStatus

    started = time.monotonic()
    failed = Outcome("approve (signed now)", "SlackInteractionsFunction", False, "", 0.0)
    release = release_id(ecr_push.payload)
    if release is None:
        failed.summary = f"{ecr_push.event} started no release, so nothing waits for approval"
        return failed
    store = ApprovalStore(handle.client("dynamodb"), handle.state["tables"]["StateTable"])
    try:
        approval_id = wait_for(
            lambda: next(iter(store.approval_ids_for_release(release)), None), 60, "approval", interval=0.5
        )
    except TimeoutError:
        failed.summary = f"release {release} asked for no approval within 60s"
        failed.seconds = round(time.monotonic() - started, 1)
        return failed
    with tempfile.TemporaryDirectory() as folder:
        click = Path(folder) / "slack-block-actions.signed.json"
        wrote = subprocess.run(  # noqa: S603 - argv of our own tools (slipway)
            [
                *runner.slipway,
                "local",
                "approve",
                approval_id,
                "--write-event",
                str(click),
                "--state-dir",
                str(STATE_DIR),
            ],
            cwd=PROJECT_ROOT,
            env=runner.env,
            check=False,
            capture_output=True,
            text=True,
        )
        if wrote.returncode != 0:
            failed.summary = f"slipway local approve exited {wrote.returncode}: {wrote.stderr.strip()[-200:]}"
            return failed
        outcome = runner.invoke("SlackInteractionsFunction", click)
    outcome.event = f"approve {approval_id} (signed now)"
    record = store.get(approval_id)
    status = record.status if record else "missing"
    outcome.ok = outcome.ok and outcome.summary == "HTTP 200" and status == ApprovalStatus.APPROVED
    outcome.summary += f", approval {status}"
    return outcome


def main() -> int:
    bin_dir = Path(sys.executable).parent
    sam = os.environ.get("SAM") or str(PROJECT_ROOT / ".venv-sam" / "bin" / "sam")
    return run(sam, [str(bin_dir / "slipway")])


if __name__ == "__main__":
    raise SystemExit(main())
