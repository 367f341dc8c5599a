"""The task definition checked against botocore's own (bundled) model of ECS RegisterTaskDefinition: no network."""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from slipway.domain.render.variables import join_path

if TYPE_CHECKING:
    from botocore.model import Shape, StructureShape


@lru_cache(maxsize=1)
def register_task_definition_shape() -> StructureShape:
    """RegisterTaskDefinition's input shape from the service model bundled with botocore (no network)."""
    import botocore.session
    from botocore.model import StructureShape

    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    assert isinstance(shape, StructureShape)
    return shape


def describe_value(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, str):
        return f"the string {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if value is None:
        return "null"
    return "a list" if isinstance(value, list) else "an object"


def check_shape(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    """Types, required members, unknown members and enums, as ECS's API model defines them."""
    kind = shape.type_name
    here = path or "(top level)"
    if kind == "structure":
        structure = cast("StructureShape", shape)
        if not isinstance(value, dict):
            problems.append(f"{here}: expected an object, got {describe_value(value)}")
            return
        for name in structure.required_members:
            if name not in value:
                problems.append(f"{join_path(path, name)}: required by RegisterTaskDefinition but missing; add it")
        for key, item in value.items():
            member = structure.members.get(key)
            if member is None:
                close = difflib.get_close_matches(key, list(structure.members), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(structure.members)}"
                problems.append(f"{join_path(path, key)}: not a RegisterTaskDefinition field; {hint}")
            else:
                check_shape(item, member, join_path(path, key), problems)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{here}: expected a list, got {describe_value(value)}")
            return
        for index, item in enumerate(value):
            check_shape(item, shape.member, f"{path}[{index}]", problems)  # type: ignore[attr-defined]
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{here}: expected an object, got {describe_value(value)}")
            return
        for key, item in value.items():
            check_shape(item, shape.value, join_path(path, str(key)), problems)  # type: ignore[attr-defined]
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{here}: expected a string, got {describe_value(value)}; put the value in quotes")
        elif shape.enum and value not in shape.enum:  # type: ignore[attr-defined]
            problems.append(f"{here}: {value!r} is not allowed; use one of {', '.join(shape.enum)}")  # type: ignore[attr-defined]
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            hint = " (write the placeholder without quotes, e.g. ${app_port})" if isinstance(value, str) else ""
            problems.append(f"{here}: expected an integer, got {describe_value(value)}{hint}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{here}: expected true or false, got {describe_value(value)}")
    elif kind in ("double", "float") and (isinstance(value, bool) or not isinstance(value, int | float)):
        problems.append(f"{here}: expected a number, got {describe_value(value)}")


def model_problems(task_definition: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    check_shape(task_definition, register_task_definition_shape(), "", problems)
    return problems


# Limits ECS enforces that its API model does not state (the model says only "integer").
PORT_LIMITS = {"containerPort": 1, "hostPort": 0}  # hostPort 0: a dynamic host port (bridge mode)
MAX_PORT = 65535


def port_problems(task_definition: dict[str, Any]) -> list[str]:
    """Every portMappings ``containerPort`` in 1-65535 and ``hostPort`` in 0-65535."""
    problems = []
    found = task_definition.get("containerDefinitions")
    for index, container in enumerate(found if isinstance(found, list) else []):
        mappings = container.get("portMappings") if isinstance(container, dict) else None
        for number, mapping in enumerate(mappings if isinstance(mappings, list) else []):
            for key, low in PORT_LIMITS.items():
                value = mapping.get(key) if isinstance(mapping, dict) else None
                if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= MAX_PORT:
                    problems.append(
                        f"containerDefinitions[{index}].portMappings[{number}].{key}: {value} is not a port "
                        f"({low}-{MAX_PORT}); fix the value (or the variable that sets it)"
                    )
    return problems
