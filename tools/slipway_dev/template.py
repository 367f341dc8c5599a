"""Reading the SAM template and the state machine definition the way CloudFormation would.

The embedded local cloud deploys from these, and `slipway lint-asl` validates the ASL after the same
``DefinitionSubstitutions`` that CloudFormation applies (moto applies none, so we do it ourselves).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # tools/slipway_dev/template.py: two folders up
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


class _CfnLoader(yaml.SafeLoader):
    """Understands CloudFormation's short tags (!Ref, !GetAtt, !Sub, ...) as their long forms."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a CloudFormation template")
    return data


def state_machines(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> properties of every AWS::Serverless::StateMachine."""
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::StateMachine"
    }


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> properties of every AWS::Serverless::Function."""
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def table_kwargs(template: dict[str, Any], logical_id: str, table_name: str) -> dict[str, Any]:
    """CreateTable arguments for an AWS::DynamoDB::Table exactly as the template declares it (keys, GSIs,
    billing), so the local cloud and the tests never drift from what `sam deploy` creates."""
    props = template["Resources"][logical_id]["Properties"]
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return kwargs


def substitute_definition(text: str, substitutions: dict[str, str]) -> str:
    """Replace ``${Key}`` as CloudFormation does; an unknown key is an error, not a silent leftover."""
    missing = sorted({m for m in PLACEHOLDER.findall(text) if m not in substitutions})
    if missing:
        raise KeyError(f"DefinitionSubstitutions lacks: {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text)


def rendered_definitions(
    template: dict[str, Any], arn_for: Any, root: Path = PROJECT_ROOT
) -> dict[str, dict[str, Any]]:
    """Each state machine's definition with its substitutions applied.

    ``arn_for(value)`` turns a substitution's CloudFormation value (``{"Fn::GetAtt": [...]}``) into a string.
    """
    result = {}
    for logical_id, props in state_machines(template).items():
        text = (root / props["DefinitionUri"]).read_text(encoding="utf-8")
        subs = {key: arn_for(value) for key, value in props.get("DefinitionSubstitutions", {}).items()}
        result[logical_id] = json.loads(substitute_definition(text, subs))
    return result


def placeholder_arn(value: Any, region: str = "eu-west-2", account: str = "123456789012") -> str:
    """A well-formed ARN for a substitution value, for offline validation."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id = value["Fn::GetAtt"][0]
        return f"arn:aws:lambda:{region}:{account}:function:{logical_id}"
    return str(value)
