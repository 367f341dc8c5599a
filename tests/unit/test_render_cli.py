"""`slipway validate` reports render problems; `slipway render` writes taskdef.json, appspec.json and plan.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from slipway_dev.cli import main
from tests.support.paths import CONFIG

DIGEST = "sha256:" + "12" * 32


def copy_config(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    shutil.copytree(CONFIG, root)
    return root


def edit_production(root: Path, change: object) -> None:
    path = root / "pipelines" / "web-app.yaml"
    data = yaml.safe_load(path.read_text())
    change(data["environments"][1])  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data))


def test_validate_fails_on_a_missing_variable_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_config(tmp_path)
    edit_production(root, lambda env: env["variables"].pop("app_port"))
    assert main(["validate", "--config", str(root)]) == 1
    err = capsys.readouterr().err
    assert "web-app/production:" in err
    assert "taskdefs/app-task.json: " in err
    assert "containerDefinitions[0].portMappings[0].containerPort" in err
    assert "variable ${app_port} is not defined; add app_port under pipeline 'web-app' environments[1].variables" in err
    assert "appspecs/appspec.yaml" in err
    assert "web-app/staging" not in err


def test_validate_fails_on_an_unknown_container(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_config(tmp_path)
    edit_production(root, lambda env: env.update(containers=["web", "worker"]))
    assert main(["validate", "--config", str(root)]) == 1
    err = capsys.readouterr().err
    assert "taskdefs/app-task.json: containerDefinitions[*].name: no container named 'worker'" in err
    assert "environments[1].containers" in err


def test_validate_passes_on_the_example_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--config", str(CONFIG)]) == 0
    assert "  ok       production" in capsys.readouterr().out


def test_render_writes_the_three_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = ["render", "web-app", "production", "--image-digest", DIGEST, "--config", str(CONFIG), "--out", str(out)]
    assert main(argv) == 0
    taskdef = json.loads((out / "taskdef.json").read_text())
    appspec = json.loads((out / "appspec.json").read_text())
    plan = json.loads((out / "plan.json").read_text())
    assert taskdef["family"] == "app-task-production"
    assert taskdef["cpu"] == "1024"
    assert all(c["image"].endswith(f"/app-images@{DIGEST}") for c in taskdef["containerDefinitions"])
    assert appspec["Resources"][0]["TargetService"]["Properties"]["TaskDefinition"] == "<TASK_DEFINITION>"
    assert plan["digest"] == DIGEST and len(plan["plan_hash"]) == 64
    summary = capsys.readouterr().out
    assert plan["plan_hash"][:12] in summary and "taskdef.json" in summary

    assert main(argv) == 0
    assert json.loads((out / "plan.json").read_text())["plan_hash"] == plan["plan_hash"]


def test_render_refuses_a_bad_digest_and_reports_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["render", "web-app", "staging", "--image-digest", "latest", "--config", str(CONFIG)])
    assert "not an image digest" in capsys.readouterr().err
    root = copy_config(tmp_path)
    edit_production(root, lambda env: env.update(containers=["worker"]))
    out = tmp_path / "out"
    argv = ["render", "web-app", "production", "--image-digest", DIGEST, "--config", str(root), "--out", str(out)]
    assert main(argv) == 1
    assert "no container named 'worker'" in capsys.readouterr().err
    assert not out.exists()
    assert main(["render", "web-app", "qa", "--image-digest", DIGEST, "--config", str(CONFIG)]) == 2
    assert "has no environment 'qa'" in capsys.readouterr().err


def test_validate_names_the_config_field_of_a_missing_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_config(tmp_path)
    path = root / "pipelines" / "web-app.yaml"
    data = yaml.safe_load(path.read_text())
    data["environments"][0]["task_definition"]["path"] = "taskdefs/nope.json"
    path.write_text(yaml.safe_dump(data))
    assert main(["validate", "--config", str(root)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    [missing] = [line for line in lines if "nope.json" in line]
    assert missing.startswith("web-app/staging: ")
    assert "taskdefs/nope.json: file not found" in missing
    assert "pipeline 'web-app' environments[0].task_definition.path" in missing
    assert lines[-1] == f"{len(lines) - 1} problem(s) in {root}"


def test_validate_reports_config_model_problems_one_per_line_with_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_config(tmp_path)
    path = root / "pipelines" / "web-app.yaml"
    data = yaml.safe_load(path.read_text())
    data["tag_filter"] = "([0-9a-f"
    data["environments"][1]["approval"]["approvers"] = {"users": [], "groups": []}
    path.write_text(yaml.safe_dump(data))
    assert main(["validate", "--config", str(root)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    problems, summary = lines[:-1], lines[-1]
    assert summary == f"2 problem(s) in {root}"
    assert len(problems) == 2
    assert all(line.startswith(f"{path}: ") for line in problems)
    assert any(": tag_filter: " in line for line in problems)
    assert any(": environments[1].approval" in line for line in problems)


def test_stack_parameters_are_the_configs_repositories_and_roles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stack-parameters", "--config", str(CONFIG)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "RepositoryNames=api-images,app-images"
    name, _, roles = lines[1].partition("=")
    assert name == "TaskRoleArns"
    assert sorted(role.rsplit("/", 1)[1] for role in roles.split(",")) == ["ecs-task-execution-role", "ecs-task-role"]


def test_stack_parameters_of_a_broken_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_config(tmp_path)
    (root / "pipelines" / "web-app.yaml").write_text("pipeline: [unclosed\n")
    assert main(["stack-parameters", "--config", str(root)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "slipway validate" in err
