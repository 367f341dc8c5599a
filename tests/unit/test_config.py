from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from slipway.domain.config import LocalConfigSource, load_config
from slipway.errors import ConfigError
from slipway_dev.cli import main
from tests.support.paths import CONFIG


def copy_config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG, target)
    return target


def edit_pipeline(root: Path, change: object) -> None:
    path = root / "pipelines" / "web-app.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data))


def test_example_config_mirrors_the_seed() -> None:
    config = load_config(LocalConfigSource(CONFIG))
    pipeline = config.pipeline("web-app")
    assert pipeline.repository == "app-images"
    assert pipeline.environment_names() == ["staging", "production"]
    production = pipeline.environment("production")
    assert production.approval.required
    assert production.containers == ["web", "sidekiq"]
    assert production.deployment.deployment_group == "codedeploy-deployment-group-production"
    assert pipeline.matches_tag("0" * 40)
    assert not pipeline.matches_tag("latest")
    assert config.for_repository("app-images") == [pipeline]
    assert config.for_repository("other") == []


def test_validate_command_passes_on_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--config", str(CONFIG)]) == 0
    assert "web-app" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d.update(tag_filter="[0-9a-f"),
            "web-app.yaml: tag_filter: tag_filter is not a valid regular expression",
        ),
        (
            lambda d: d["environments"][1]["approval"].update(approvers={"users": [], "groups": []}),
            "web-app.yaml: environments[1].approval: approval is required but no approvers are named",
        ),
        (
            lambda d: d["environments"][0].update(deployment={"type": "ecs"}),
            "web-app.yaml: environments[0].deployment: rolling ECS deployments are not supported",
        ),
        (
            lambda d: d["environments"][0].update(colour="blue"),
            "web-app.yaml: environments[0].colour: Extra inputs are not permitted",
        ),
        (
            lambda d: d["environments"][1]["approval"].update(min_approvals=3),
            "min_approvals is 3 but only 2 approver(s) are named",
        ),
        (
            lambda d: d["environments"].append(dict(d["environments"][0])),
            "environment names must be unique; repeated: staging",
        ),
        (
            lambda d: d["environments"][0].update(task_definition={"source": "template"}),
            "environments[0].task_definition: task_definition.source is 'template', so task_definition.path",
        ),
    ],
)
def test_invalid_config_names_file_path_and_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: object, expected: str
) -> None:
    root = copy_config(tmp_path)
    edit_pipeline(root, change)
    with pytest.raises(ConfigError, match=None) as raised:
        load_config(LocalConfigSource(root))
    assert expected in str(raised.value)
    assert main(["validate", "--config", str(root)]) == 1
    assert expected in capsys.readouterr().err


def test_missing_and_malformed_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no pipeline files"):
        load_config(LocalConfigSource(tmp_path))
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "a.yaml").write_text("name: [unclosed")
    (tmp_path / "pipelines" / "b.yaml").write_text("- just a list")
    with pytest.raises(ConfigError) as raised:
        load_config(LocalConfigSource(tmp_path))
    message = str(raised.value)
    assert "a.yaml: not valid YAML" in message
    assert "b.yaml: expected a mapping" in message


def test_duplicate_pipeline_names_are_refused(tmp_path: Path) -> None:
    root = copy_config(tmp_path)
    shutil.copy(root / "pipelines" / "web-app.yaml", root / "pipelines" / "web-app-copy.yaml")
    with pytest.raises(ConfigError, match="pipeline 'web-app' is defined twice"):
        load_config(LocalConfigSource(root))
    with pytest.raises(KeyError, match="unknown pipeline 'nope'"):
        load_config(LocalConfigSource(CONFIG)).pipeline("nope")
