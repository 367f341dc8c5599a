"""The config in S3 against the local config folder: what ``slipway publish-config`` writes (every file of the
folder under the prefix, and the compiled file of them), what it removes (keys under the folders it writes that no
longer exist locally), and the preflight check that the stack's ConfigLocation holds exactly that."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from slipway.adapters.s3 import split_s3_uri
from slipway_dev.compiled import compiled_key, is_compiled_from
from slipway_dev.preflight import Check


def planned_objects(root: Path, prefix: str) -> dict[str, Path]:
    """Key -> local file: what publish-config writes."""
    prefix = prefix.strip("/")
    return {
        "/".join(part for part in (prefix, path.relative_to(root).as_posix()) if part): path
        for path in sorted(p for p in root.rglob("*") if p.is_file())
    }


def owned_prefixes(root: Path, prefix: str) -> list[str]:
    """The key prefixes publish-config owns: one per top-level entry of the config folder (``pipelines/``,
    ``taskdefs/``, ...), so a stale key is removed there and nothing else in the bucket is touched."""
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return sorted(f"{base}{entry.name}" + ("/" if entry.is_dir() else "") for entry in root.iterdir())


@dataclass
class Drift:
    """How the bucket differs from what publish-config would write (keys)."""

    missing: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def none(self) -> bool:
        return not (self.missing or self.different or self.stale)

    def describe(self) -> str:
        parts = [
            f"{len(keys)} {label} ({', '.join(keys[:3])}{', …' if len(keys) > 3 else ''})"
            for label, keys in (("missing", self.missing), ("different", self.different), ("stale", self.stale))
            if keys
        ]
        return ", ".join(parts)


def stored_keys(s3: Any, bucket: str, prefixes: list[str]) -> list[str]:
    keys: list[str] = []
    for owned in prefixes:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=owned):
            keys += [obj["Key"] for obj in page.get("Contents", []) if obj["Key"] == owned or owned.endswith("/")]
    return sorted(set(keys))


def config_drift(s3: Any, location: str, root: Path) -> Drift:
    """Compare each planned object's bytes with the bucket's (config files are small)."""
    bucket, prefix = split_s3_uri(location)
    planned = planned_objects(root, prefix)
    stored = set(stored_keys(s3, bucket, owned_prefixes(root, prefix)))
    drift = Drift(stale=sorted(stored - set(planned)))
    for key, path in planned.items():
        if key not in stored:
            drift.missing.append(key)
        elif s3.get_object(Bucket=bucket, Key=key)["Body"].read() != path.read_bytes():
            drift.different.append(key)
    # what the functions read: compiled from the folder as it is now (its recorded hash), not another publish's
    key = compiled_key(prefix)
    try:
        compiled = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        drift.missing.append(key)
    else:
        if not is_compiled_from(compiled, root):
            drift.different.append(key)
    return drift


def bucket_problem(s3: Any, bucket: str) -> str | None:
    """Why the bucket cannot be used (a fix), or None."""
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            return f"bucket {bucket} does not exist: create it (aws s3 mb s3://{bucket}) or fix ConfigLocation"
        if code in ("403", "AccessDenied"):
            return f"bucket {bucket} exists but this identity may not use it (403): check its policy and yours"
        raise
    return None


def config_bucket_checks(s3: Any, stack: Any, root: Path) -> list[Check]:
    location = stack.config_location
    bucket, _ = split_s3_uri(location)
    problem = bucket_problem(s3, bucket)
    if problem is not None:
        return [Check(f"config bucket {bucket} exists", fix=problem)]
    checks = [Check(f"config bucket {bucket} exists")]
    drift = config_drift(s3, location, root)
    what = f"{location} holds {root} as publish-config would write it"
    if drift.none:
        checks.append(Check(what))
    else:
        checks.append(Check(what, fix=f"{drift.describe()}: run `slipway publish-config --config {root} {location}`"))
    return checks
