"""The task definition: read from its source (template, CodePipeline artifact, or what the service runs now),
turned into RegisterTaskDefinition input, with the pipeline's containers pinned to the release digest."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from slipway.domain.config import ConfigSource
from slipway.domain.render.variables import substitute_json, walk_strings
from slipway.errors import SlipwayError, TransientError
from slipway.models.config import Environment
from slipway.models.release import Release

READ_ONLY_FIELDS = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
)
SLIPWAY_TAG_PREFIX = "slipway:"
IMAGE_PLACEHOLDER = re.compile(r"<IMAGE(\d+)_NAME>")

ReadS3 = Callable[[str], str]


def read_template(source: ConfigSource, path: str, read_s3: ReadS3 | None) -> tuple[str, str]:
    """(text, name for messages) of a template in the config folder or at an ``s3://`` URI."""
    if path.startswith("s3://"):
        return (read_s3(path) if read_s3 else source.read_text(path)), path
    return source.read_text(path), source.describe(path)


def containers(task_definition: dict[str, Any]) -> list[dict[str, Any]]:
    found = task_definition.get("containerDefinitions")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def registration_input(task_definition: dict[str, Any]) -> dict[str, Any]:
    """Read-only fields (DescribeTaskDefinition output) and slipway/aws tags stripped: RegisterTaskDefinition input."""
    result = {k: v for k, v in _drop_none(task_definition).items() if k not in READ_ONLY_FIELDS}
    if isinstance(result.get("tags"), list):
        kept = [
            tag
            for tag in result["tags"]
            if not (isinstance(tag, dict) and str(tag.get("key", "")).startswith((SLIPWAY_TAG_PREFIX, "aws:")))
        ]
        if kept:
            result["tags"] = kept
        else:
            del result["tags"]
    return result


def load_task_definition(
    environment: Environment,
    release: Release,
    source: ConfigSource,
    variables: dict[str, str],
    live: dict[str, Any] | None,
    read_s3: ReadS3 | None,
    config_where: str,
) -> tuple[dict[str, Any] | None, str, list[str]]:
    """(parsed task definition, where, problems); None when nothing could be parsed."""
    spec = environment.task_definition
    if spec.source == "live":
        where = f"live task definition of {environment.cluster}/{environment.service}"
        if live is None:
            return None, where, [f"{where}: the service has no task definition; use source: template instead"]
        return copy.deepcopy(live), where, []
    assert spec.path is not None
    if spec.source == "artifact":
        where = f"artifact file {spec.path}"
        if spec.path not in release.artifacts:
            files = ", ".join(sorted(release.artifacts)) or "none"
            return None, where, [f"{where}: not in the CodePipeline input artifact (files: {files})"]
        text = release.artifacts[spec.path]
    else:
        try:
            text, where = read_template(source, spec.path, read_s3)
        except TransientError:
            raise  # throttled or unavailable, not missing: retried, never a render problem
        except SlipwayError as exc:
            return None, spec.path, [f"{exc} (named by {config_where}.task_definition.path)"]
    text = IMAGE_PLACEHOLDER.sub(lambda m: release.image_uri if m.group(1) == "1" else m.group(0), text)
    try:
        parsed = json.loads(substitute_json(text, variables))
    except json.JSONDecodeError as exc:
        problem = f"{where}: line {exc.lineno} column {exc.colno}: not valid JSON after substitution: {exc.msg}"
        return None, where, [problem]
    if not isinstance(parsed, dict):
        return None, where, [f"{where}: (top level): expected a JSON object (RegisterTaskDefinition input)"]
    return parsed, where, []


def pin_images(
    task_definition: dict[str, Any], environment: Environment, release: Release, where: str, config_where: str
) -> list[str]:
    """Set the release's image (by digest) on the environment's containers; problems for names that do not exist
    and for ``<IMAGEn_NAME>`` placeholders left over."""
    problems = []
    found = containers(task_definition)
    names = [c.get("name") for c in found]
    for name in environment.containers:
        if name not in names:
            problems.append(
                f"{where}: containerDefinitions[*].name: no container named {name!r} (it has: "
                f"{', '.join(str(n) for n in names)}); fix {config_where}.containers or the task definition"
            )
    for container in found:
        if container.get("name") in environment.containers:
            container["image"] = release.image_uri
    for path, text in walk_strings(task_definition):
        for number in IMAGE_PLACEHOLDER.findall(text):
            problems.append(
                f"{where}: {path}: <IMAGE{number}_NAME> is left: slipway ships one image; name this container "
                f"in {config_where}.containers or write its image"
            )
    return problems


def unnamed_repository_images(
    task_definition: dict[str, Any], environment: Environment, release: Release, where: str, config_where: str
) -> list[str]:
    """Containers not in ``environment.containers`` that run another image of the pipeline's repository: a template
    that does so is a mistake (they would not get the release's digest while the rest moves on). Checked by
    ``slipway validate``; a ``live`` task definition keeps such containers as they run, by design."""
    problems = []
    for index, container in enumerate(containers(task_definition)):
        image = container.get("image")
        if container.get("name") in environment.containers or not isinstance(image, str):
            continue
        if image != release.image_uri and image_repository(image) == release.repository:
            problems.append(
                f"{where}: containerDefinitions[{index}].image: container {container.get('name')!r} runs {image}, "
                f"an image of {release.repository}, but is not in {config_where}.containers, so it would not get "
                "the release's digest: add it there"
            )
    return problems


def image_repository(image: str) -> str:
    """The repository path of an image reference: ``123.dkr.ecr.eu-west-2.amazonaws.com/team/app:1`` -> ``team/app``."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    path = f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]
    first, _, rest = path.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return rest
    return path
