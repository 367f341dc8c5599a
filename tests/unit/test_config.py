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
    moved = pipeline.model_copy(update={"repository": "other"})
    copied = config.model_copy(update={"pipelines": {pipeline.name: moved}})  # a new index for new pipelines
    assert copied.for_repository("other") == [moved] and copied.for_repository("app-images") == []


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
            "web-app.yaml: environments[0]: deployment.type is ecs: remove appspec",
        ),
        (
            lambda d: d["environments"][0].update(
                deployment={"type": "ecs", "strategy": "ROLLING", "canary_percent": 5}, appspec=None
            ),
            "web-app.yaml: environments[0].deployment: canary_percent only apply to strategy CANARY: set strategy",
        ),
        (
            lambda d: d["environments"][0].update(deployment={"type": "ecs", "stratgy": "ROLLING"}, appspec=None),
            "environments[0].deployment.stratgy: unknown key 'stratgy'; did you mean 'strategy'?",
        ),
        (
            lambda d: d["environments"][0].update(colour="blue"),
            "web-app.yaml: environments[0].colour: unknown key 'colour'; the keys here are: name, cluster",
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
    assert "a.yaml: line 1 column 16: not valid YAML: while parsing a flow sequence" in message
    assert len(message.splitlines()) == 2  # one line per file
    assert "b.yaml: expected a mapping" in message


def test_duplicate_pipeline_names_are_refused(tmp_path: Path) -> None:
    root = copy_config(tmp_path)
    shutil.copy(root / "pipelines" / "web-app.yaml", root / "pipelines" / "web-app-copy.yaml")
    with pytest.raises(ConfigError, match="pipeline 'web-app' is defined twice"):
        load_config(LocalConfigSource(root))
    with pytest.raises(KeyError, match="unknown pipeline 'nope'"):
        load_config(LocalConfigSource(CONFIG)).pipeline("nope")


def test_an_approval_may_be_asked_in_the_pipelines_channel(tmp_path: Path) -> None:
    root = copy_config(tmp_path)

    def move_channel(data: dict[str, object]) -> None:
        production = data["environments"][1]  # type: ignore[index]
        data["slack_channel"] = production.pop("slack_channel")

    edit_pipeline(root, move_channel)
    production = load_config(LocalConfigSource(root)).pipeline("web-app").environment("production")
    assert production.slack_channel is None and production.needs_approval()
    edit_pipeline(root, lambda d: d.pop("slack_channel"))
    with pytest.raises(ConfigError, match=r"environments\[1\].slack_channel: approval.required is true but no Slack"):
        load_config(LocalConfigSource(root))


def test_a_scan_gate_that_refuses_needs_no_approvers(tmp_path: Path) -> None:
    root = copy_config(tmp_path)
    edit_pipeline(root, lambda d: d["environments"][0].update(scan_gate={"threshold": "HIGH", "action": "refuse"}))
    staging = load_config(LocalConfigSource(root)).pipeline("web-app").environment("staging")
    assert not staging.needs_approval()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, 'true is a YAML boolean and would render as 1: quote it ("true") if you mean the text'),
        (False, 'false is a YAML boolean and would render as 0: quote it ("false") if you mean the text'),
        (1.5, "a variable is a string or a whole number, not float: quote it"),
        (None, "a variable is a string or a whole number, not null: quote it"),
    ],
)
def test_a_variable_is_text_or_a_whole_number(tmp_path: Path, value: object, expected: str) -> None:
    root = copy_config(tmp_path)
    edit_pipeline(root, lambda d: d["environments"][0]["variables"].update(flag=value))
    with pytest.raises(ConfigError) as raised:
        load_config(LocalConfigSource(root))
    assert str(raised.value).endswith(f"web-app.yaml: environments[0].variables.flag: {expected}")


def test_an_unknown_top_level_key_gets_a_did_you_mean(tmp_path: Path) -> None:
    root = copy_config(tmp_path)
    edit_pipeline(root, lambda d: d.update(tag_filtr=".*"))
    with pytest.raises(ConfigError, match="tag_filtr: unknown key 'tag_filtr'; did you mean 'tag_filter'"):
        load_config(LocalConfigSource(root))
