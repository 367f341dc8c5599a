"""`slipway validate` on broken configurations (tests/fixtures/bad-configs): each fails at once, naming the file and
the path, with the fix; what cannot be checked offline says so ("skipped", and why), never "ok"."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from slipway_dev.cli import main
from tests.support.paths import CONFIG, ROOT

BAD = ROOT / "tests" / "fixtures" / "bad-configs"
CASES = sorted(p.name for p in BAD.iterdir() if p.is_dir())


def config_folder(tmp_path: Path, case: str) -> Path:
    root = tmp_path / case
    for part in ("taskdefs", "appspecs"):
        shutil.copytree(CONFIG / part, root / part)
    shutil.copytree(BAD / case, root, dirs_exist_ok=True)
    (root / "expected.txt").unlink()
    return root


@pytest.mark.parametrize("case", CASES)
def test_a_broken_config_fails_naming_file_path_and_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    root = config_folder(tmp_path, case)
    expected = (BAD / case / "expected.txt").read_text().format(root=root).splitlines()
    assert main(["validate", "--config", str(root)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    for line in expected:
        assert any(got.endswith(line) for got in lines), f"{line!r} not in:\n{captured.err}"
    assert lines[-1] == expected[-1]  # the count: each problem once
    assert captured.out == ""


def test_there_is_a_case_for_each_mistake_the_issue_names() -> None:
    assert {
        "approval-without-channel",
        "container-port-out-of-range",
        "boolean-variable",
        "container-not-in-containers",
        "key-typo",
        "yaml-error",
    } <= set(CASES)


def test_environments_that_cannot_be_checked_offline_are_skipped_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "config"
    shutil.copytree(CONFIG, root)
    (root / "pipelines" / "api.yaml").unlink()  # one pipeline is enough here
    path = root / "pipelines" / "web-app.yaml"
    data = yaml.safe_load(path.read_text())
    data["environments"][0]["task_definition"] = {"source": "live"}
    data["environments"][1]["task_definition"] = {"source": "artifact", "path": "taskdef-production.json"}
    path.write_text(yaml.safe_dump(data))
    extra = dict(data, name="from-s3")
    for env in extra["environments"]:
        env["task_definition"] = {"source": "template", "path": "s3://bucket/taskdefs/app-task.json"}
    (root / "pipelines" / "from-s3.yaml").write_text(yaml.safe_dump(extra))

    assert main(["validate", "--config", str(root)]) == 0
    out = capsys.readouterr().out
    assert "  skipped  staging: task_definition.source is live: the service's running task definition is needed" in out
    assert "`slipway diff web-app staging --image-digest sha256:…`" in out
    assert "  skipped  production: task_definition.source is artifact: taskdef-production.json comes from a " in out
    assert "  skipped  staging: s3://bucket/taskdefs/app-task.json is on S3" in out
    assert "ok" not in out


def test_the_example_config_is_checked_not_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--config", str(CONFIG)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "api: api-images (queue) staging -> production",
        "  ok       staging",
        "  ok       production",
        "web-app: app-images (supersede) staging -> production",
        "  ok       staging",
        "  ok       production",
    ]
