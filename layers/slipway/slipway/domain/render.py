"""Rendering task definitions and AppSpecs, and checking them before any AWS call.

A task definition comes from one of three sources (``task_definition.source`` in config):

- ``template``: a JSON file with ``${name}`` placeholders, substituted as *text* before JSON parsing, so the seed's
  ``"containerPort": ${app_port}`` becomes a number; ``path`` is in the config folder or an ``s3://`` URI.
- ``artifact``: a file of the CodePipeline input artifact, with ``<IMAGE1_NAME>`` (and ``${name}``) placeholders.
- ``live``: the service's running task definition, with only the named containers' images replaced.

Every problem is collected and reported together; each message names the file, the JSON path and the fix.
Nothing here talks to AWS: the schema check walks botocore's own (bundled) ECS service model.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

import yaml

from slipway.domain.config import ConfigSource
from slipway.errors import SlipwayError
from slipway.models.config import Environment, Pipeline, SlipwayConfig
from slipway.models.release import Release, release_id_for, sha256_hex

if TYPE_CHECKING:
    from botocore.model import Shape, StructureShape

BUILTINS = ("image_uri", "image_digest", "pipeline", "environment", "release_id", "commit")
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
TASK_DEFINITION_PLACEHOLDER = "<TASK_DEFINITION>"
SLIPWAY_TAG_PREFIX = "slipway:"
SAMPLE_REGISTRY = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"
SAMPLE_DIGEST = "sha256:" + "0" * 64

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A JSON string literal, or a ${name} outside any string (a bare number such as "containerPort": ${app_port}).
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\$\{([A-Za-z_][A-Za-z0-9_]*)\}')
IMAGE_PLACEHOLDER = re.compile(r"<IMAGE(\d+)_NAME>")
CREDENTIALS_IN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:[^\s/@]+@")
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")

ReadS3 = Callable[[str], str]


@dataclass
class Rendered:
    """One environment's candidate: RegisterTaskDefinition input, AppSpec template, plan hash, problems."""

    task_definition: dict[str, Any]
    appspec: dict[str, Any]
    plan_hash: str
    problems: list[str] = field(default_factory=list)


# --- variables and substitution -------------------------------------------------------------------------------


def builtin_variables(pipeline: Pipeline, environment: Environment, release: Release) -> dict[str, str]:
    return {
        "image_uri": release.image_uri,
        "image_digest": release.digest,
        "pipeline": pipeline.name,
        "environment": environment.name,
        "release_id": release.release_id,
        "commit": release.commit or "",
    }


def template_variables(
    pipeline: Pipeline, environment: Environment, release: Release, where: str
) -> tuple[dict[str, str], list[str]]:
    """Config variables (which may reference built-ins, e.g. ``app_image: "${image_uri}"``) plus the built-ins."""
    builtins = builtin_variables(pipeline, environment, release)
    variables = dict(builtins)
    problems = []
    for name, value in environment.variables.items():
        path = f"{where}.variables.{name}"
        if name in builtins:
            problems.append(f"{path}: {name!r} is a built-in variable; rename yours")
            continue
        text = str(value)
        unknown = sorted({m for m in PLACEHOLDER.findall(text) if m not in builtins})
        if unknown:
            refs = ", ".join("${" + u + "}" for u in unknown)
            problems.append(
                f"{path}: {refs} is not a built-in; a variable's value may reference only {', '.join(BUILTINS)}"
            )
        variables[name] = PLACEHOLDER.sub(lambda m: builtins.get(m.group(1), m.group(0)), text)
    return variables, problems


def substitute_json(text: str, variables: dict[str, str]) -> str:
    """``${name}`` inside a JSON string is replaced JSON-escaped; outside a string, as is (a number).

    A missing variable is left as ``"${name}"`` (quoted when bare) so the text still parses and
    ``missing_variables`` can name every JSON path that uses it.
    """

    def in_string(match: re.Match[str]) -> str:
        name = match.group(1)
        return json.dumps(variables[name])[1:-1] if name in variables else match.group(0)

    def token(match: re.Match[str]) -> str:
        bare = match.group(1)
        if bare is None:
            return PLACEHOLDER.sub(in_string, match.group(0))
        return variables.get(bare, f'"${{{bare}}}"')

    return _JSON_TOKEN.sub(token, text)


def substitute_text(text: str, variables: dict[str, str]) -> str:
    """YAML templates (the AppSpec): plain replacement; missing names are left for ``missing_variables``."""
    return PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), text)


def walk_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(JSON path, string) for every string in a parsed document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk_strings(item, _join(path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_strings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


def missing_variables(document: Any, where: str, config_where: str) -> list[str]:
    """One message per missing variable, listing every JSON path that uses it."""
    uses: dict[str, list[str]] = {}
    for path, text in walk_strings(document):
        for name in PLACEHOLDER.findall(text):
            uses.setdefault(name, []).append(path or "(top level)")
    return [
        f"{where}: {', '.join(paths)}: variable ${{{name}}} is not defined; add {name} under "
        f"{config_where}.variables (built-ins: {', '.join(BUILTINS)})"
        for name, paths in sorted(uses.items())
    ]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- the botocore model check ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def register_task_definition_shape() -> StructureShape:
    """RegisterTaskDefinition's input shape from the service model bundled with botocore (no network)."""
    import botocore.session
    from botocore.model import StructureShape

    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    assert isinstance(shape, StructureShape)
    return shape


def _describe(value: Any) -> str:
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
            problems.append(f"{here}: expected an object, got {_describe(value)}")
            return
        for name in structure.required_members:
            if name not in value:
                problems.append(f"{_join(path, name)}: required by RegisterTaskDefinition but missing; add it")
        for key, item in value.items():
            member = structure.members.get(key)
            if member is None:
                close = difflib.get_close_matches(key, list(structure.members), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(structure.members)}"
                problems.append(f"{_join(path, key)}: not a RegisterTaskDefinition field; {hint}")
            else:
                check_shape(item, member, _join(path, key), problems)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{here}: expected a list, got {_describe(value)}")
            return
        for index, item in enumerate(value):
            check_shape(item, shape.member, f"{path}[{index}]", problems)  # type: ignore[attr-defined]
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{here}: expected an object, got {_describe(value)}")
            return
        for key, item in value.items():
            check_shape(item, shape.value, _join(path, str(key)), problems)  # type: ignore[attr-defined]
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{here}: expected a string, got {_describe(value)}; put the value in quotes")
        elif shape.enum and value not in shape.enum:  # type: ignore[attr-defined]
            problems.append(f"{here}: {value!r} is not allowed; use one of {', '.join(shape.enum)}")  # type: ignore[attr-defined]
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            hint = " (write the placeholder without quotes, e.g. ${app_port})" if isinstance(value, str) else ""
            problems.append(f"{here}: expected an integer, got {_describe(value)}{hint}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{here}: expected true or false, got {_describe(value)}")
    elif kind in ("double", "float") and (isinstance(value, bool) or not isinstance(value, int | float)):
        problems.append(f"{here}: expected a number, got {_describe(value)}")


def model_problems(task_definition: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    check_shape(task_definition, register_task_definition_shape(), "", problems)
    return problems


# --- secret hygiene -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretRule:
    """One way a plaintext secret is recognised: ``rule`` is the short id printed in problems (never the value)."""

    rule: str
    description: str
    pattern: re.Pattern[str]


# Checked against every literal VALUE, whatever its name: these shapes are credentials on their own.
VALUE_RULES = (
    SecretRule("private-key", "a PEM private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")),
    SecretRule("aws-access-key", "an AWS access key id (AKIA/ASIA...)", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    SecretRule(
        "github-token",
        "a GitHub token (ghp_/gho_/ghu_/ghs_/ghr_/github_pat_)",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    ),
    SecretRule("slack-token", "a Slack token (xoxb-/xoxp-/...)", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{8,}")),
    SecretRule("stripe-live-key", "a Stripe live key (sk_live_/rk_live_)", re.compile(r"\b[sr]k_live_[A-Za-z0-9]{8,}")),
    SecretRule(
        "webhook-url",
        "a webhook URL (the URL itself is the credential)",
        re.compile(
            r"https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)/|(?:[\w-]+\.)*discord(?:app)?\.com/api/webhooks/"
            r"|[\w-]+\.webhook\.office\.com/|outlook\.office\.com/webhook/)",
            re.IGNORECASE,
        ),
    ),
    SecretRule(
        "authorization-header",
        "an Authorization header value (Bearer/Basic/Token ...)",
        re.compile(r"^\s*(?:Bearer|Basic|Token)\s+\S{6,}", re.IGNORECASE),
    ),
    SecretRule("url-password", "credentials in a URL (user:password@)", CREDENTIALS_IN_URL),
    SecretRule(
        "url-key",
        "credentials in a URL (a key as the user part, e.g. a DSN https://key@host/1)",
        re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9_-]{16,}@"),
    ),
)

# Checked against the NAME (upper-cased words split on anything but letters and digits).
_NAME_SUBSTRINGS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL", "PRIVATEKEY")
_NAME_WORDS = frozenset({"PASS", "PWD", "PW", "AUTHORIZATION", "BEARER", "APIKEY", "DSN"})
_URL_NAME_SUFFIXES = frozenset({"URL", "URI", "ENDPOINT", "HOST", "ISSUER", "DOMAIN"})


def secret_name_rule(name: str) -> str | None:
    """Why ``name`` looks like it holds a secret (e.g. ``name contains PASSWORD``), or None.

    ``KEY`` counts as a word or a word ending (API_KEY, APIKEY, RAILS_MASTER_KEY) but not ``PUBLIC`` keys nor key
    *ids* (``AWS_ACCESS_KEY_ID``, ``KMS_KEY_ID``): an id names a key, its value is checked by the value rules.
    """
    words = [w for w in re.split(r"[^A-Z0-9]+", name.upper()) if w]
    if "PUBLIC" in words or "PUB" in words:
        return None
    joined = "".join(words)
    for needle in _NAME_SUBSTRINGS:
        if needle in joined:
            return f"name contains {needle}"
    for position, word in enumerate(words):
        if word in _NAME_WORDS:
            return f"name has the word {word}"
        if word.endswith("KEY") and (position + 1 == len(words) or words[position + 1] != "ID"):
            return f"name has the word {word}"
    return None


def secret_rule(name: str, value: str) -> str | None:
    """Which rule says this literal environment value is a secret (``rule: description``), or None.

    Value shapes win over names. A name rule does not apply to an ARN (a reference, not the secret), nor to a
    plain URL without credentials under a ``*_URL`` / ``*_URI`` / ``*_ENDPOINT`` / ``*_HOST`` name (TOKEN_URL).
    """
    for rule in VALUE_RULES:
        if rule.pattern.search(value):
            return f"{rule.rule}: {rule.description}"
    if value.startswith("arn:"):
        return None
    by_name = secret_name_rule(name)
    if by_name is None:
        return None
    words = [w for w in re.split(r"[^A-Z0-9]+", name.upper()) if w]
    if words and words[-1] in _URL_NAME_SUFFIXES and URL.match(value.strip()):
        return None
    return f"secret-name: {by_name}"


def looks_secret(name: str) -> bool:
    return secret_name_rule(name) is not None


def secret_problems(task_definition: dict[str, Any], allow_plaintext: list[str], where: str) -> list[str]:
    """A literal value a rule recognises as a secret is refused (see docs/rendering.md); the value is never shown."""
    problems = []
    for index, container in enumerate(_containers(task_definition)):
        for position, entry in enumerate(container.get("environment") or []):
            if not isinstance(entry, dict):
                continue
            name, value = str(entry.get("name", "")), entry.get("value")
            if not isinstance(value, str) or not value or name in allow_plaintext:
                continue
            why = secret_rule(name, value)
            if why is None:
                continue
            problems.append(
                f"{where}: containerDefinitions[{index}].environment[{position}]: container "
                f"{container.get('name')!r}, variable {name}: rule {why}; it has a literal value: move it to "
                f'containerDefinitions[{index}].secrets as {{"name": "{name}", "valueFrom": "<Secrets Manager or '
                f'SSM parameter ARN>"}}, or list {name} under allow_plaintext'
            )
    return problems


# --- sources --------------------------------------------------------------------------------------------------


def read_template(source: ConfigSource, path: str, read_s3: ReadS3 | None) -> tuple[str, str]:
    """(text, name for messages) of a template in the config folder or at an ``s3://`` URI."""
    if path.startswith("s3://"):
        return (read_s3(path) if read_s3 else source.read_text(path)), path
    return source.read_text(path), source.describe(path)


def _containers(task_definition: dict[str, Any]) -> list[dict[str, Any]]:
    containers = task_definition.get("containerDefinitions")
    return [c for c in containers if isinstance(c, dict)] if isinstance(containers, list) else []


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


def _load_task_definition(
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


def _load_appspec(
    environment: Environment,
    release: Release,
    source: ConfigSource,
    variables: dict[str, str],
    read_s3: ReadS3 | None,
    config_where: str,
) -> tuple[dict[str, Any] | None, str, list[str]]:
    spec = environment.appspec
    if spec.path is None:
        assert spec.container_name is not None
        appspec: dict[str, Any] = {
            "version": 0.0,
            "Resources": [
                {
                    "TargetService": {
                        "Type": "AWS::ECS::Service",
                        "Properties": {
                            "TaskDefinition": TASK_DEFINITION_PLACEHOLDER,
                            "LoadBalancerInfo": {
                                "ContainerName": spec.container_name,
                                "ContainerPort": spec.container_port,
                            },
                        },
                    }
                }
            ],
        }
        where = "appspec (built from container_name/container_port)"
    else:
        if spec.path in release.artifacts:
            text, where = release.artifacts[spec.path], f"artifact file {spec.path}"
        else:
            try:
                text, where = read_template(source, spec.path, read_s3)
            except SlipwayError as exc:
                return None, spec.path, [f"{exc} (named by {config_where}.appspec.path)"]
        try:
            loaded = yaml.safe_load(substitute_text(text, variables))
        except yaml.YAMLError as exc:
            return None, where, [f"{where}: not valid YAML/JSON after substitution: {exc}"]
        if not isinstance(loaded, dict):
            return None, where, [f"{where}: (top level): expected an AppSpec mapping with version and Resources"]
        appspec = loaded
    if spec.hooks:
        appspec["Hooks"] = [{event: function} for event, function in spec.hooks.items()]
    return appspec, where, []


def appspec_problems(appspec: dict[str, Any], task_definition: dict[str, Any], where: str) -> list[str]:
    """One ECS TargetService whose load balancer container and port exist in the task definition."""
    resources = appspec.get("Resources")
    if not isinstance(resources, list) or len(resources) != 1 or not isinstance(resources[0], dict):
        return [f"{where}: Resources: expected a list with one TargetService (AWS::ECS::Service)"]
    target = resources[0].get("TargetService")
    props = target.get("Properties") if isinstance(target, dict) else None
    if not isinstance(props, dict):
        return [f"{where}: Resources[0].TargetService.Properties: missing; see the ECS AppSpec reference"]
    problems = []
    if props.get("TaskDefinition") != TASK_DEFINITION_PLACEHOLDER:
        problems.append(
            f"{where}: Resources[0].TargetService.Properties.TaskDefinition: write {TASK_DEFINITION_PLACEHOLDER!r}; "
            "slipway fills in the registered revision"
        )
    lb = props.get("LoadBalancerInfo")
    lb_path = "Resources[0].TargetService.Properties.LoadBalancerInfo"
    if not isinstance(lb, dict):
        return [*problems, f"{where}: {lb_path}: missing; give ContainerName and ContainerPort"]
    by_name = {c.get("name"): c for c in _containers(task_definition)}
    name, port = lb.get("ContainerName"), lb.get("ContainerPort")
    if name not in by_name:
        problems.append(
            f"{where}: {lb_path}.ContainerName: no container {name!r} in the task definition "
            f"(containers: {', '.join(str(n) for n in by_name)})"
        )
    elif isinstance(port, bool) or not isinstance(port, int):
        problems.append(f"{where}: {lb_path}.ContainerPort: expected an integer, got {_describe(port)}")
    else:
        ports = [p.get("containerPort") for p in by_name[name].get("portMappings") or [] if isinstance(p, dict)]
        if port not in ports:
            problems.append(
                f"{where}: {lb_path}.ContainerPort: container {name!r} maps no port {port} (its ports: {ports}); "
                "add it to portMappings or fix the AppSpec"
            )
    return problems


# --- rendering ------------------------------------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def plan_hash(task_definition: dict[str, Any], appspec: dict[str, Any], digest: str) -> str:
    """Stable across runs: same task definition input, AppSpec template and digest -> same hash."""
    return sha256_hex(canonical_json({"task_definition": task_definition, "appspec": appspec, "digest": digest}))


def render_environment(
    pipeline: Pipeline,
    environment: Environment,
    release: Release,
    source: ConfigSource,
    *,
    live: dict[str, Any] | None = None,
    read_s3: ReadS3 | None = None,
) -> Rendered:
    """Render and validate one environment's task definition and AppSpec; every problem is in ``problems``."""
    index = pipeline.environments.index(environment) if environment in pipeline.environments else 0
    config_where = f"pipeline {pipeline.name!r} environments[{index}]"
    variables, problems = template_variables(pipeline, environment, release, config_where)

    loaded, where, load_problems = _load_task_definition(
        environment, release, source, variables, live, read_s3, config_where
    )
    problems += load_problems
    task_definition = registration_input(loaded) if loaded is not None else {}
    shape_problems: list[str] = []
    missing = missing_variables(task_definition, where, config_where) if loaded is not None else []
    problems += missing

    if loaded is not None:
        containers = _containers(task_definition)
        names = [c.get("name") for c in containers]
        for name in environment.containers:
            if name not in names:
                problems.append(
                    f"{where}: containerDefinitions[*].name: no container named {name!r} (it has: "
                    f"{', '.join(str(n) for n in names)}); fix {config_where}.containers or the task definition"
                )
        for container in containers:
            if container.get("name") in environment.containers:
                container["image"] = release.image_uri
        for path, text in walk_strings(task_definition):
            for number in IMAGE_PLACEHOLDER.findall(text):
                problems.append(
                    f"{where}: {path}: <IMAGE{number}_NAME> is left: slipway ships one image; name this container "
                    f"in {config_where}.containers or write its image"
                )
        problems += secret_problems(task_definition, environment.allow_plaintext, where)
        shape_problems = [] if missing else model_problems(task_definition)
        problems += [f"{where}: {p}" for p in shape_problems]

    appspec, appspec_where, appspec_load = _load_appspec(environment, release, source, variables, read_s3, config_where)
    problems += appspec_load
    if appspec is not None:
        appspec_missing = missing_variables(appspec, appspec_where, config_where)
        problems += appspec_missing
        # The AppSpec is checked against the task definition only when that one is sound.
        if loaded is not None and not missing and not shape_problems and not appspec_missing:
            problems += appspec_problems(appspec, task_definition, appspec_where)
    appspec = appspec or {}
    return Rendered(
        task_definition=task_definition,
        appspec=appspec,
        plan_hash=plan_hash(task_definition, appspec, release.digest),
        problems=problems,
    )


def appspec_content(appspec: dict[str, Any], task_definition_arn: str) -> tuple[str, str]:
    """CodeDeploy's ``AppSpecContent``: (JSON content with the revision filled in, its sha256)."""

    def fill(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return task_definition_arn if value == TASK_DEFINITION_PLACEHOLDER else value

    content = json.dumps(fill(appspec), separators=(",", ":"))
    return content, sha256_hex(content)


# --- diff -----------------------------------------------------------------------------------------------------


def short_image(image: Any) -> str:
    """``app-images@sha256:0123456789ab`` (registry host dropped, digest shortened)."""
    text = str(image)
    text = text.split("/", 1)[1] if "/" in text and "." in text.split("/", 1)[0] else text
    repo, at, digest = text.partition("@sha256:")
    return f"{repo}@sha256:{digest[:12]}" if at else text


UNSET = "(unset)"


def display(value: Any) -> str:
    """One value as an approver reads it: ``(unset)`` for a missing value (never Python's None or JSON null), a
    command as the shell would show it, numbers and strings as they are."""
    if value is None or value in ([], ""):
        return UNSET
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return shlex.join(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _same(old: Any, new: Any) -> bool:
    """Equal as ECS reads them: the task's ``"512"`` and ``512`` are the same cpu."""
    return display(old) == display(new)


def _env_map(container: dict[str, Any]) -> dict[str, str]:
    return {
        str(e.get("name")): str(e.get("value", "")) for e in container.get("environment") or [] if isinstance(e, dict)
    }


def _shown(name: str, value: str) -> str:
    if looks_secret(name) or secret_rule(name, value):
        return "(hidden)"
    return json.dumps(value if len(value) <= 40 else value[:37] + "...")


def _ports(container: dict[str, Any]) -> str:
    ports = [
        f"{p.get('containerPort')}/{p.get('protocol', 'tcp')}"
        for p in container.get("portMappings") or []
        if isinstance(p, dict)
    ]
    return ", ".join(ports) or "none"


def _container_diff(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = []
    if old.get("image") != new.get("image"):
        lines.append(f"{name}: image {short_image(old.get('image'))} -> {short_image(new.get('image'))}")
    old_env, new_env = _env_map(old), _env_map(new)
    changes = [f"+{k}={_shown(k, new_env[k])}" for k in sorted(new_env.keys() - old_env.keys())]
    changes += [f"-{k}" for k in sorted(old_env.keys() - new_env.keys())]
    changes += [
        f"~{k}: {_shown(k, old_env[k])} -> {_shown(k, new_env[k])}"
        for k in sorted(old_env.keys() & new_env.keys())
        if old_env[k] != new_env[k]
    ]
    if changes:
        lines.append(f"{name}: env {'; '.join(changes)}")
    old_secrets = {str(s.get("name")): s.get("valueFrom") for s in old.get("secrets") or [] if isinstance(s, dict)}
    new_secrets = {str(s.get("name")): s.get("valueFrom") for s in new.get("secrets") or [] if isinstance(s, dict)}
    secret_changes = [f"+{k}" for k in sorted(new_secrets.keys() - old_secrets.keys())]
    secret_changes += [f"-{k}" for k in sorted(old_secrets.keys() - new_secrets.keys())]
    secret_changes += [
        f"~{k} (valueFrom)" for k in sorted(old_secrets.keys() & new_secrets.keys()) if old_secrets[k] != new_secrets[k]
    ]
    if secret_changes:
        lines.append(f"{name}: secrets {'; '.join(secret_changes)}")
    for key in ("cpu", "memory", "memoryReservation"):
        if _same(old.get(key), new.get(key)):
            continue
        lines.append(f"{name}: container {key} {display(old.get(key))} -> {display(new.get(key))}")
    if _ports(old) != _ports(new):
        lines.append(f"{name}: ports {_ports(old)} -> {_ports(new)}")
    for key in ("command", "entryPoint"):
        if old.get(key) != new.get(key):
            lines.append(f"{name}: {key} {display(old.get(key))} -> {display(new.get(key))}")
    return lines


def diff_task_definitions(live: dict[str, Any] | None, candidate: dict[str, Any], limit: int = 15) -> list[str]:
    """Short, Slack-sized lines: what changes between the running task definition and the candidate."""
    if live is None:
        lines = [f"new: nothing running yet (family {candidate.get('family')})"]
        lines += [f"{c.get('name')}: image {short_image(c.get('image'))}" for c in _containers(candidate)]
        lines.append(f"task: cpu {display(candidate.get('cpu'))}, memory {display(candidate.get('memory'))}")
        return lines[:limit]
    lines = []
    for key in ("cpu", "memory"):
        if not _same(live.get(key), candidate.get(key)):
            lines.append(f"task: {key} {display(live.get(key))} -> {display(candidate.get(key))}")
    old = {c.get("name"): c for c in _containers(live)}
    new = {c.get("name"): c for c in _containers(candidate)}
    for name in new.keys() - old.keys():
        lines.append(f"+container {name} ({short_image(new[name].get('image'))})")
    for name in old.keys() - new.keys():
        lines.append(f"-container {name}")
    for name, container in new.items():
        if name in old:
            lines += _container_diff(str(name), old[name], container)
    if not lines:
        return ["no changes"]
    if len(lines) > limit:
        lines = [*lines[: limit - 1], f"... and {len(lines) - limit + 1} more"]
    return lines


# --- offline validation (slipway validate) --------------------------------------------------------------------


def sample_release(pipeline: Pipeline) -> Release:
    return Release(
        release_id=release_id_for(pipeline.name, SAMPLE_DIGEST),
        pipeline=pipeline.name,
        registry=SAMPLE_REGISTRY,
        repository=pipeline.repository,
        digest=SAMPLE_DIGEST,
        commit="0" * 40,
        source="cli",
    )


def validate_offline(config: SlipwayConfig, source: ConfigSource, read_s3: ReadS3 | None = None) -> list[str]:
    """Render every pipeline x environment with a sample digest, without AWS; one message per problem.

    Skipped (they need AWS or a pipeline run): ``live`` and ``artifact`` task definitions, and ``s3://``
    templates unless ``read_s3`` is given.
    """
    problems = []
    for pipeline in config.pipelines.values():
        release = sample_release(pipeline)
        for environment in pipeline.environments:
            paths = (environment.task_definition.path or "", environment.appspec.path or "")
            if environment.task_definition.source != "template" or (
                read_s3 is None and any(p.startswith("s3://") for p in paths)
            ):
                continue
            rendered = render_environment(pipeline, environment, release, source, read_s3=read_s3)
            problems += [f"{pipeline.name}/{environment.name}: {p}" for p in rendered.problems]
    return problems
