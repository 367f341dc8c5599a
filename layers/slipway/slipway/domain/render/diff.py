"""What changes between the running task definition and the candidate, in short Slack-sized lines.

The lines go into the Slack approval message and the audit trail's ``plan`` event, so they never show a value the
secret rules (``slipway.domain.render.secrets``) flag: it reads ``•••`` and the line says it changed
(``~AWS_SECRET_ACCESS_KEY: ••• (changed)``, ``web: command ./run --password=••• (changed)``). A value the rules
clear is shown as it is (``RAILS_ENV="production"``): the approver needs it.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from slipway.domain.render.secrets import MASK, masked_command, secret_rule
from slipway.domain.render.taskdef import containers


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


def _secret(name: str, value: str) -> bool:
    """Shown only when the rules clear it (allow_plaintext lets a value ship, not print)."""
    return secret_rule(name, value) is not None


def _shown(value: str) -> str:
    return json.dumps(value if len(value) <= 40 else value[:37] + "...")


def _env_change(name: str, old: str, new: str) -> str:
    if _secret(name, old) or _secret(name, new):
        return f"~{name}: {MASK} (changed)"
    return f"~{name}: {_shown(old)} -> {_shown(new)}"


def _command_change(name: str, key: str, old: Any, new: Any) -> str:
    """``web: command a -> b``; when only masked values differ: ``web: command ./run --password=••• (changed)``."""
    before, after = _command(old), _command(new)
    if before == after:
        return f"{name}: {key} {after} (changed)"
    return f"{name}: {key} {before} -> {after}"


def _command(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return masked_command(value)
    return display(value)


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
    changes = [
        f"+{k}={MASK if _secret(k, new_env[k]) else _shown(new_env[k])}"
        for k in sorted(new_env.keys() - old_env.keys())
    ]
    changes += [f"-{k}" for k in sorted(old_env.keys() - new_env.keys())]
    changes += [
        _env_change(k, old_env[k], new_env[k])
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
            lines.append(_command_change(name, key, old.get(key), new.get(key)))
    return lines


def diff_task_definitions(live: dict[str, Any] | None, candidate: dict[str, Any], limit: int = 15) -> list[str]:
    """Short, Slack-sized lines: what changes between the running task definition and the candidate."""
    if live is None:
        lines = [f"new: nothing running yet (family {candidate.get('family')})"]
        lines += [f"{c.get('name')}: image {short_image(c.get('image'))}" for c in containers(candidate)]
        lines.append(f"task: cpu {display(candidate.get('cpu'))}, memory {display(candidate.get('memory'))}")
        return lines[:limit]
    lines = []
    for key in ("cpu", "memory"):
        if not _same(live.get(key), candidate.get(key)):
            lines.append(f"task: {key} {display(live.get(key))} -> {display(candidate.get(key))}")
    old = {c.get("name"): c for c in containers(live)}
    new = {c.get("name"): c for c in containers(candidate)}
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
