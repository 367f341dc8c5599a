from __future__ import annotations

import json

import pytest

from slipway_dev.cli import main
from slipway_dev.template import (
    functions,
    load_template,
    placeholder_arn,
    rendered_definitions,
    state_machines,
    substitute_definition,
    table_kwargs,
)


def test_every_arn_in_the_asl_comes_from_definition_substitutions(project_root) -> None:
    template = load_template()
    (props,) = state_machines(template).values()
    raw = (project_root / props["DefinitionUri"]).read_text()
    assert "arn:aws:lambda" not in raw  # nothing hard-coded
    definition = rendered_definitions(template, placeholder_arn)["ReleaseStateMachine"]
    text = json.dumps(definition)
    for key in props["DefinitionSubstitutions"]:
        assert "${" + key + "}" in raw
    assert "${" not in text


def test_every_function_has_a_handler_folder(project_root) -> None:
    for logical_id, props in functions(load_template()).items():
        module = project_root / props["CodeUri"] / "app.py"
        assert module.is_file(), f"{logical_id}: {module} missing"
        assert props["Handler"] == "app.lambda_handler"


def test_substitution_refuses_unknown_placeholders() -> None:
    assert substitute_definition('{"a": "${X}"}', {"X": "1"}) == '{"a": "1"}'
    with pytest.raises(KeyError, match="lacks: Y"):
        substitute_definition('{"a": "${Y}"}', {})


def test_lint_asl_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint-asl"]) == 0
    assert "ReleaseStateMachine: ok" in capsys.readouterr().out


def test_table_kwargs_are_the_template_tables() -> None:
    template = load_template()
    audit = table_kwargs(template, "AuditTable", "audit")
    assert audit["TableName"] == "audit"
    assert audit["KeySchema"] == template["Resources"]["AuditTable"]["Properties"]["KeySchema"]
    assert [index["IndexName"] for index in audit["GlobalSecondaryIndexes"]] == ["gsi1"]
    state = table_kwargs(template, "StateTable", "state")
    assert "GlobalSecondaryIndexes" not in state
    assert state["BillingMode"] == "PAY_PER_REQUEST"
