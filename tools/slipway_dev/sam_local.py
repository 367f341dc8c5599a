"""`make sam-local`: every sample event through `sam local invoke` (Docker) against the embedded local cloud.

Skipped, saying so, when Docker is not usable. Otherwise it builds for this machine's architecture (emulating arm64
on x86_64 blows the 30 s timeout), starts `slipway local up` where containers reach it, and invokes each function
with its sample event and the cloud's `env.json`. SAM exits 0 even when the function raises, so the printed
payload is what is judged. Then the approve path: the release the ECR push started waits for approval, a freshly
signed click (`slipway local approve --write-event`) goes through `sam local invoke SlackInteractionsFunction`, and
the approval must be recorded.
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
from typing import Any

from slipway_dev.local.base import wait_for
from slipway_dev.local.events import EVENTS_DIR
from slipway_dev.template import PROJECT_ROOT

SAMPLE_EVENT_FUNCTIONS = {
    "ecr-push": "EcrPushFunction",
    "codepipeline-job": "CodePipelineJobFunction",
    "codedeploy-": "DeploymentEventsFunction",
    "slack-": "SlackInteractionsFunction",
    "sns-codepipeline-approval": "CodePipelineApprovalFunction",
}
# the continuation needs the execution the first job started
ORDER = ["ecr-push.json", "codepipeline-job.json", "codepipeline-job-continuation.json"]
STALE_SIGNATURE = "slack-block-actions.json"  # signed long ago: the handler must answer 401
BUILD_DIR = PROJECT_ROOT / ".aws-sam" / "sam-local"
STATE_DIR = PROJECT_ROOT / ".slipway" / "sam-local"


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
        return f"the Docker daemon does not answer (`docker info`: {answer.stderr.strip().splitlines()[-1:] or ['?']})"
    return None


def docker_desktop(run: Callable[..., Any] = subprocess.run) -> bool:
    answer = run(["docker", "info", "--format", "{{.OperatingSystem}}"], capture_output=True, text=True, check=False)
    return "Docker Desktop" in answer.stdout


def lambda_architecture(machine: str | None = None) -> str:
    """The template's Architecture for this machine: native speed in the container."""
    return "arm64" if (machine or platform.machine()).lower() in {"arm64", "aarch64"} else "x86_64"


def judge(stdout: str) -> tuple[bool, str]:
    """SAM prints the function's response as the last JSON line of stdout: (ok, summary)."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            payload = json.loads(line)
        except ValueError:
            continue
        if isinstance(payload, dict) and "errorType" in payload:
            return False, f"{payload['errorType']}: {payload.get('errorMessage', '')}"[:200]
        if isinstance(payload, dict) and "statusCode" in payload:
            return True, f"HTTP {payload['statusCode']}"
        return True, json.dumps(payload)[:120]
    return False, "no response printed"


@dataclass
class Outcome:
    event: str
    function: str
    ok: bool
    summary: str
    seconds: float


class SamLocal:
    def __init__(self, sam: str, slipway: list[str], architecture: str) -> None:
        self.sam = sam
        self.slipway = slipway
        self.architecture = architecture
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
                "--parameter-overrides",
                *self.parameters(),
            ],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        ok, summary = judge(done.stdout)
        if done.returncode != 0:
            ok, summary = False, f"sam exited {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"
        return Outcome(event.name, function, ok, summary, round(time.monotonic() - started, 1))


def run(sam: str, slipway: list[str]) -> int:
    from slipway_dev.local.handle import CloudHandle, running_state

    problem = docker_problem()
    if problem:
        print(f"sam-local: SKIPPED, {problem}. Nothing was invoked; install Docker to run it (docs/local-cloud.md).")
        return 0
    runner = SamLocal(sam, slipway, lambda_architecture())
    runner.build()
    host = "127.0.0.1" if docker_desktop() else "docker-bridge"
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
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    outcomes: list[Outcome] = []
    try:
        runner.state = wait_for(lambda: running_state(STATE_DIR), 90, "slipway local up", interval=0.5)
        handle = CloudHandle(runner.state)
        for event in sample_events():
            outcome = runner.invoke(function_for(event.name), event)
            if event.name == STALE_SIGNATURE:
                outcome.ok = outcome.summary == "HTTP 401"
                outcome.summary += " (a stale signature, refused as it must be)" if outcome.ok else " (expected 401)"
            outcomes.append(outcome)
        approval_id = wait_for(lambda: _waiting_approval(handle), 60, "the release's approval request", interval=0.5)
        with tempfile.TemporaryDirectory() as folder:
            click = Path(folder) / "slack-block-actions.signed.json"
            subprocess.run(  # noqa: S603 - argv of our own tools (the SAM CLI, slipway)
                [*slipway, "local", "approve", approval_id, "--write-event", str(click), "--state-dir", str(STATE_DIR)],
                cwd=PROJECT_ROOT,
                env=runner.env,
                check=True,
                capture_output=True,
            )
            outcome = runner.invoke("SlackInteractionsFunction", click)
            outcome.event = f"approve {approval_id} (signed now)"
            outcome.ok = outcome.ok and outcome.summary == "HTTP 200"
            outcomes.append(outcome)
    finally:
        cloud.send_signal(signal.SIGINT)
        try:
            cloud.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cloud.kill()
    width = max(len(o.event) for o in outcomes)
    for o in outcomes:
        print(f"{'ok ' if o.ok else 'BAD'} {o.event:{width}}  {o.function:30} {o.seconds:6.1f}s  {o.summary}")
    failed = [o for o in outcomes if not o.ok]
    print(f"sam-local: {len(outcomes) - len(failed)}/{len(outcomes)} invocations as expected ({runner.architecture})")
    return 1 if failed else 0


def _waiting_approval(handle: Any) -> str | None:
    from slipway_dev.local import interaction

    ids = interaction.approval_ids(handle.slack_messages())
    return ids[-1] if ids else None


def main() -> int:
    bin_dir = Path(sys.executable).parent
    sam = os.environ.get("SAM") or str(PROJECT_ROOT / ".venv-sam" / "bin" / "sam")
    return run(sam, [str(bin_dir / "slipway")])


if __name__ == "__main__":
    raise SystemExit(main())
