"""What the intake cannot know without an AWS call: every tag of the pushed digest, and the commit from an OCI label.

The intake makes no AWS call before StartExecution (a duplicate event costs exactly one call), so a release starts
with the pushed tag only, and with a commit only when that tag looks like a SHA. The first environment's
PrepareEnvironment fills in the rest, once per release:

- all tags of the digest (ECR DescribeImages), recorded as the audit record's ``tags``;
- when no tag gives a commit: the image config's ``org.opencontainers.image.revision`` label (or the label-schema
  ``org.label-schema.vcs-ref``), recorded as ``commit`` with ``commit_source`` ``oci-label``.

The execution input (``Release``) is never changed: readers that show tags or the commit (the plan's rendering,
the approval message, the release thread) apply the recorded facts with ``recorded_release``. A lookup that fails
(no permission, timeout, a manifest or config that is not JSON, ...) is logged and ignored: it never fails a
release. The AWS side is ``slipway.adapters.ecr.EcrImages``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from slipway.domain.intake.start import commit_from_tag
from slipway.models.records import ReleaseRecord
from slipway.models.release import Release
from slipway.observability import logger

REVISION_LABELS = ("org.opencontainers.image.revision", "org.label-schema.vcs-ref")
CHECKED_FIELD = "image_facts_at"
"""Audit field set once the lookup ran (whatever it found), so retries and later environments do not repeat it."""
MAX_COMMIT_LENGTH = 128


class ImageInspector(Protocol):
    """ECR (the adapter is ``EcrImages``)."""

    def image_tags(self, registry_id: str | None, repository: str, digest: str) -> list[str]: ...

    def image_labels(self, registry_id: str | None, repository: str, digest: str) -> dict[str, str]: ...


class ReleaseFacts(Protocol):
    """The audit trail's release record."""

    def set_release_fields(self, release_id: str, **fields: Any) -> None: ...


def commit_from_labels(labels: Mapping[str, Any]) -> str | None:
    """The revision an OCI (or label-schema) label names; None when absent, empty or implausibly long."""
    for key in REVISION_LABELS:
        value = str(labels.get(key) or "").strip()
        if value and len(value) <= MAX_COMMIT_LENGTH and not any(c.isspace() for c in value):
            return value
    return None


def recorded_release(release: Release, record: ReleaseRecord | None) -> Release:
    """``release`` with the tags and commit recorded since it started (a copy; the input stays as it was)."""
    if record is None:
        return release
    update: dict[str, Any] = {}
    if record.tags:
        merged = sorted(set(record.tags) | set(release.tags))
        if merged != release.tags:
            update["tags"] = merged
    if not release.commit and record.commit:
        update["commit"] = record.commit
    return release.model_copy(update=update) if update else release


def _problem(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def learn_image_facts(
    release: Release,
    record: ReleaseRecord | None,
    *,
    inspector: ImageInspector | None,
    audit: ReleaseFacts,
    registry_id: str | None,
    at: str,
) -> Release:
    """Look up (once per release) and record all tags and the commit; returns the release with what is known.

    Skipped for rollbacks, without an inspector, before the intake's audit record exists (writing fields first
    would stop the intake from writing its record), and once ``CHECKED_FIELD`` is recorded. Never raises for a
    failed lookup.
    """
    known = recorded_release(release, record)
    if inspector is None or release.source == "rollback" or release.rollback_task_definition_arn:
        return known
    where = {"release_id": release.release_id, "repository": release.repository, "digest": release.digest}
    if record is None:
        logger.info("no audit record for the release yet: tags and commit lookup skipped", extra=where)
        return known
    if record.image_facts_at:
        return known

    images = inspector
    fields: dict[str, Any] = {}
    # A CodePipeline release already resolved every tag through DescribeImages in the intake.
    tags_known = release.source == "codepipeline" or bool(record.tags)
    if not tags_known:
        try:
            tags = images.image_tags(registry_id, release.repository, release.digest)
        except Exception as exc:  # any failure: logged, never fails the release
            logger.warning("could not list the image's tags (ignored)", extra={**where, "error": _problem(exc)})
        else:
            fields["tags"] = sorted(set(tags) | set(known.tags))
    if not known.commit:
        commit = next((c for c in map(commit_from_tag, fields.get("tags", [])) if c), None)
        source = "tag"
        if commit is None:
            source = "oci-label"
            try:
                labels = images.image_labels(registry_id, release.repository, release.digest)
            except Exception as exc:  # any failure: logged, never fails the release
                logger.warning("could not read the image's labels (ignored)", extra={**where, "error": _problem(exc)})
            else:
                commit = commit_from_labels(labels)
                if commit is None:
                    logger.info("the image has no revision label", extra={**where, "labels": sorted(labels)[:20]})
        if commit:
            fields.update(commit=commit, commit_source=source)
    fields[CHECKED_FIELD] = at
    try:
        audit.set_release_fields(release.release_id, **fields)
    except Exception as exc:  # the audit write is best effort too: the facts are informational
        logger.warning(
            "could not record the image's tags and commit (ignored)", extra={**where, "error": _problem(exc)}
        )
        return known
    logger.info(
        "image facts recorded",
        extra={
            **where,
            "tags": fields.get("tags"),
            "commit": fields.get("commit"),
            "commit_source": fields.get("commit_source"),
        },
    )
    return recorded_release(release, dataclasses.replace(record, **fields))
