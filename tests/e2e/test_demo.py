"""`slipway local demo`: one release, shown as it happens, and its summary file. The timeline reads well: the
approval message once (then only its new status), channel names, nothing after the end that contradicts it, a
cause printed once, only this release's events on a shared cloud; any pipeline, its own approver."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from tests.support.paths import ROOT

from slipway_dev.cli import main
from slipway_dev.local.cloud import LocalCloud
from slipway_dev.local.demo import Demo, DemoOptions, shorten
from slipway_dev.local.handle import CloudHandle

CHANNEL_ID = re.compile(r"\bC[0-9A-F]{8,}\b")


@pytest.mark.parametrize(
    ("args", "exit_code", "status", "staging", "production"),
    [
        ([], 0, "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"),
        (["--reject"], 1, "REJECTED", "SUCCEEDED", "NOT_DEPLOYED"),
        (["--fail-staging"], 1, "FAILED", "FAILED", "NOT_DEPLOYED"),
    ],
)
def test_demo_runs_a_release_and_writes_its_summary(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    exit_code: int,
    status: str,
    staging: str,
    production: str,
) -> None:
    argv = ["local", "demo", "--state-dir", str(tmp_path), "--config", str(ROOT / "config"), "--pipeline", "web-app"]
    assert main([*argv, *args]) == exit_code
    summary = json.loads((tmp_path / "demo-summary.json").read_text())
    assert summary["pipeline"] == "web-app"
    assert summary["status"] == status
    if status == "SUCCEEDED":
        assert summary["cause"] is None
    else:
        assert summary["cause"]
    if status == "REJECTED":
        assert "Rejected by" in summary["cause"]
    if status == "FAILED":
        assert "staging" in summary["cause"] or "Deployment" in summary["cause"], summary["cause"]
    assert summary["environments"]["staging"]["status"] == staging
    assert summary["environments"]["production"]["status"] == production
    assert summary["release_id"].startswith("web-app-")
    if staging != "NOT_DEPLOYED":
        assert summary["environments"]["staging"]["deployment_id"]
    assert summary["state_transitions"] >= 7
    assert summary["lambda_invocations"] == sum(summary["lambda_invocations_by_function"].values())
    # One push, two events for the ECR push function: CloudTrail's PutImage record (who) and ECR's push (what).
    assert summary["lambda_invocations_by_function"]["EcrPushFunction"] == 2
    assert 0 < summary["wall_seconds"] < 60

    out = capsys.readouterr().out
    lines = out.splitlines()
    headings = [line for line in lines if "Slack " in line and line.rstrip().endswith(":")]
    assert headings and not [h for h in headings if CHANNEL_ID.search(h)]  # names, not ids
    assert any("in #deploys" in h for h in headings)
    assert "execution succeeded" not in out
    ending = [line for line in lines if re.search(r"\brelease (SUCCEEDED|REJECTED|FAILED)\b", line)]
    assert ending and ending[0].strip().endswith(f"release {status}")
    if status != "FAILED":
        assert summary["image"]["digest"] in out  # the approval shows it whole: not wrapped, output is no terminal
        assert out.count("== Approve web-app → production? ==") == 1  # the message once...
        assert out.count("⏳ Waiting for 1 approval") == 1
        assert out.count("Slack update in #deploys-production of “Approve web-app → production?”:") == 1
        assert ("✅ Approved by @U0APPROVER1" if status == "SUCCEEDED" else "❌ Rejected by @U0APPROVER1") in out
    else:
        cause = "Simulated failure of codedeploy-deployment-group-staging (slipway local cloud)"
        assert out.count(cause) == 1, out  # ...and a cause once
        assert "(as above)" in out


def test_on_a_shared_cloud_the_demo_shows_only_its_release(local_cloud: LocalCloud, tmp_path: Path) -> None:
    other = local_cloud.push_image()
    other_id = other.release_ids["web-app"]
    local_cloud.wait_for(local_cloud.deployments, 15, "the other release's staging deployment")
    said: list[str] = []
    options = DemoOptions(config_dir=ROOT / "config", state_dir=tmp_path, timeout=60, pipeline="web-app")
    summary = Demo(CloudHandle(local_cloud.state()), options, said.append).run()
    assert summary["status"] == "SUCCEEDED"
    # The other release shows only where this one waits for it (its lock), never its messages or deployments.
    assert all("is held by release" in line for line in said if other_id in line)
    text = "\n".join(said).replace(other_id, "")
    assert other.digest.removeprefix("sha256:")[:12] not in text and other.tag not in text
    shown = {line.split("CodeDeploy ")[1].split("…")[0] for line in said if "CodeDeploy " in line and "…" in line}
    assert {d["deploymentId"][:13] for d in local_cloud.deployments() if other_id in d.get("description", "")}
    assert not {d["deploymentId"][:13] for d in local_cloud.deployments() if other_id in d["description"]} & shown


def test_demo_of_another_pipeline_with_its_own_approver(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    api = yaml.safe_load((config / "pipelines" / "web-app.yaml").read_text())
    api.update(name="go-api", repository="go-api", slack_channel="#api", tag_filter="v[0-9.]+")
    for env in api["environments"]:
        env["cluster"] = f"api-{env['name']}"
        env["deployment"].update(application="go-api", deployment_group=f"go-api-{env['name']}")
    api["environments"][1].update(approval={"required": True, "approvers": {"users": ["U0APIOWNER"]}})
    (config / "pipelines" / "go-api.yaml").write_text(yaml.safe_dump(api))

    argv = ["local", "demo", "--state-dir", str(tmp_path), "--config", str(config)]
    assert main(argv) == 2
    assert "has 3 pipelines (api, go-api, web-app): pass --pipeline NAME" in capsys.readouterr().err
    assert main([*argv, "--pipeline", "nope"]) == 2
    assert "unknown pipeline 'nope' (configured: api, go-api, web-app)" in capsys.readouterr().err

    assert main([*argv, "--pipeline", "go-api"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "demo-summary.json").read_text())
    assert summary["pipeline"] == "go-api" and summary["status"] == "SUCCEEDED"
    assert re.fullmatch(r"v[0-9.]+", summary["image"]["tag"])  # a tag its tag_filter accepts
    assert "@U0APIOWNER approved" in out
    assert "pushed go-api:" in out


def test_demo_cause_is_cut_at_a_word_boundary() -> None:
    cause = "Deployment d-ABC failed: the new task set did not become healthy " * 5
    short = shorten(cause, 60)
    assert short.endswith(" …")
    assert cause.startswith(short.removesuffix(" …"))
    kept = short.removesuffix(" …")
    assert cause[len(kept)] == " "  # the cut falls between two words
    assert len(kept) <= 60
    assert shorten("short cause", 60) == "short cause"
    arn = "arn:aws:ecs:eu-west-2:123456789012:task-definition/" + "x" * 80
    assert shorten(arn, 60) == arn  # one long word is kept whole
