"""The configuration reference, generated from the pydantic models of ``slipway.models.config``: ``config/schema.json``
(a JSON Schema for editors; the pipeline files name it in a ``yaml-language-server`` modeline) and
``docs/configuration.md`` (every key, its type, default, description and example). ``make config-reference``
(``python -m slipway_dev.config_reference``) writes both; ``--check`` only says whether they drifted, and
``tests/unit/test_config_reference.py`` fails when they do."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from slipway.models.config import (
    ApprovalPolicy,
    Approvers,
    AppSpecSpec,
    CodeDeployMethod,
    Environment,
    People,
    Person,
    Pipeline,
    ScanGate,
    TaskDefinitionSource,
)
from slipway.models.target import Target
from slipway_dev.template import PROJECT_ROOT

SCHEMA_FILE = Path("config") / "schema.json"
DOC_FILE = Path("docs") / "configuration.md"
SCHEMA_ID = "https://slipway.local/config/schema.json"  # an identifier, not a URL anything fetches
MODELINE = "# yaml-language-server: $schema=../schema.json"

# Each model and where it sits in a pipeline file, in reading order.
SECTIONS: list[tuple[type[BaseModel], str]] = [
    (Pipeline, "a pipeline file"),
    (Environment, "environments[]"),
    (CodeDeployMethod, "environments[].deployment"),
    (TaskDefinitionSource, "environments[].task_definition"),
    (AppSpecSpec, "environments[].appspec"),
    (ApprovalPolicy, "environments[].approval"),
    (Approvers, "environments[].approval.approvers"),
    (ScanGate, "environments[].scan_gate"),
    (Target, "environments[].target"),
]
# config/people.yaml: one file beside pipelines/, its own document.
PEOPLE_SECTIONS: list[tuple[type[BaseModel], str]] = [
    (People, "people.yaml"),
    (Person, "people.yaml: people[]"),
]

# A whole pipeline, for the end of the reference; validated against the models when the reference is written.
EXAMPLE: dict[str, Any] = {
    "name": "go-api",
    "repository": "go-api",
    "tag_filter": "[0-9a-f]{40}",
    "concurrency": "queue",
    "slack_channel": "#deploys",
    "environments": [
        {
            "name": "staging",
            "cluster": "staging",
            "service": "go-api",
            "deployment": {"type": "codedeploy", "application": "go-api", "deployment_group": "go-api-staging"},
            "task_definition": {"source": "template", "path": "taskdefs/go-api.json"},
            "containers": ["api"],
            "variables": {"app_image": "${image_uri}", "app_port": 8080, "log_level": "debug"},
            "appspec": {"container_name": "api", "container_port": 8080},
        },
        {
            "name": "production",
            "cluster": "production",
            "service": "go-api",
            "deployment": {"type": "codedeploy", "application": "go-api", "deployment_group": "go-api-production"},
            "task_definition": {"source": "template", "path": "taskdefs/go-api.json"},
            "containers": ["api"],
            "variables": {"app_image": "${image_uri}", "app_port": 8080, "log_level": "info"},
            "appspec": {"container_name": "api", "container_port": 8080},
            "approval": {"required": True, "approvers": {"users": ["U0APPROVER1"]}, "timeout_minutes": 120},
            "slack_channel": "#deploys-production",
            "scan_gate": {"threshold": "HIGH", "action": "refuse"},
        },
    ],
}


def json_schema() -> dict[str, Any]:
    schema = Pipeline.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def _anchor(model: type[BaseModel]) -> str:
    path = dict((m, p) for m, p in [*SECTIONS, *PEOPLE_SECTIONS])[model]
    return "#" + "".join(c for c in path.lower().replace(".", "").replace(" ", "-") if c.isalnum() or c in "-_")


def _type(prop: dict[str, Any], defs: dict[str, type[BaseModel]]) -> str:
    """A JSON Schema property in words, with links to the sections of nested objects."""
    if "$ref" in prop:
        model = defs[prop["$ref"].rsplit("/", 1)[-1]]
        return f"[object]({_anchor(model)})"
    if "anyOf" in prop:
        kinds = [_type(p, defs) for p in prop["anyOf"] if p.get("type") != "null"]
        return " or ".join(kinds)
    if "const" in prop:
        return f"`{prop['const']}`"
    if "enum" in prop:
        return " or ".join(f"`{value}`" for value in prop["enum"])
    kind = prop.get("type")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}), defs)}"
    if kind == "object":
        keys = prop.get("propertyNames", {}).get("enum")
        key_text = " or ".join(f"`{k}`" for k in keys) if keys else "name"
        return f"map: {key_text} → {_type(prop.get('additionalProperties', {}), defs)}"
    if kind == "integer":
        low, high = prop.get("minimum"), prop.get("maximum")
        return f"integer {low}..{high}" if low is not None and high is not None else "integer"
    if kind == "string" and "pattern" in prop:
        return f"string matching `{prop['pattern']}`"
    if kind == "string" and "minLength" in prop:
        return "string (not empty)"
    return str(kind or "any")


def _default(model: type[BaseModel], name: str) -> str:
    field = model.model_fields[name]
    if field.is_required():
        return "**required**"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(every default below)"
    if value is None:
        return "none"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _summary(model: type[BaseModel]) -> str:
    """The model docstring's first paragraph, as Markdown (``code`` -> `code`)."""
    first = (model.__doc__ or "").strip().split("\n\n", 1)[0]
    return " ".join(first.split()).replace("``", "`")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown() -> str:
    schema = json_schema()
    defs = {name: model for model, _ in SECTIONS for name in [model.__name__]}
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from slipway/models/config.py by `make config-reference`; do not edit by hand. -->",
        "",
        "A pipeline is one YAML file in `config/pipelines/`; its task definition and AppSpec templates sit beside it",
        "(`config/taskdefs/`, `config/appspecs/`) or in S3. `slipway validate` checks a config folder offline and",
        "`slipway preflight` checks the AWS account against it. Every key is below: an unknown key is an error (with",
        "a did-you-mean), so a typo never passes silently. Who pushes images, for the approval's pusher rule, is",
        "`config/people.yaml` ([below](#peopleyaml)).",
        "",
        "Editors with the YAML language server (VS Code's YAML extension, for one) complete and check these keys",
        f"from `config/schema.json`, named by the first line of each pipeline file: `{MODELINE}`.",
        "",
    ]
    people_schema = People.model_json_schema()
    defs |= {model.__name__: model for model, _ in PEOPLE_SECTIONS}
    for model, path in [*SECTIONS, *PEOPLE_SECTIONS]:
        root = people_schema if model in (People, Person) else schema
        properties = (root if model in (Pipeline, People) else root["$defs"][model.__name__])["properties"]
        lines += [f"## {path}", "", _summary(model), ""]
        lines += ["| key | type | default | description | example |", "| --- | --- | --- | --- | --- |"]
        for name, prop in properties.items():
            example = prop.get("examples", [None])[0]
            shown = f"`{json.dumps(example, ensure_ascii=False)}`" if example is not None else ""
            description = prop.get("description", "")
            lines.append(
                f"| `{name}` | {_cell(_type(prop, defs))} | {_default(model, name)} | {_cell(description)} | "
                f"{_cell(shown)} |"
            )
        lines.append("")
    Pipeline.model_validate(EXAMPLE)  # the example below must itself be valid
    lines += [
        "## A whole pipeline",
        "",
        "A Go API on port 8080, staging then production behind one approval (its task definition template,",
        "`taskdefs/go-api.json`, is a RegisterTaskDefinition input with `${app_image}` and `${app_port}`; see",
        "[first-service.md](first-service.md)):",
        "",
        "```yaml",
        MODELINE,
        yaml.safe_dump(EXAMPLE, sort_keys=False, allow_unicode=True).rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def generated() -> dict[Path, str]:
    return {SCHEMA_FILE: schema_text(), DOC_FILE: markdown()}


def main(argv: Sequence[str] | None = None, root: Path = PROJECT_ROOT) -> int:
    """Write the reference (or, with ``--check``, exit 1 naming the files that differ from it)."""
    check = "--check" in (sys.argv[1:] if argv is None else argv)
    stale = []
    for relative, text in generated().items():
        path = root / relative
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(str(relative))
        if not check:
            path.write_text(text, encoding="utf-8")
    if check and stale:
        print(f"out of date: {', '.join(stale)} (run `make config-reference`)", file=sys.stderr)
        return 1
    print(f"{'wrote' if stale else 'up to date:'} {', '.join(stale or map(str, generated()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
