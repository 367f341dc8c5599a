"""Images as ``docker push`` and ECR make them: a manifest whose digest depends on a seed, ``put_image``, then ECR's
push event through EventBridge, and the release ids the push starts."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipway.models.release import release_id_for
from slipway_dev.local.base import LOCAL_PUSHER
from slipway_dev.local.events import ecr_push_event, ecr_put_image_call_event, put_event


@dataclass
class PushedImage:
    repository: str
    tag: str
    digest: str
    release_ids: dict[str, str]  # pipeline -> release id (execution name)
    event: dict[str, Any]


def image_manifest(seed: str) -> str:
    """A Docker v2 manifest whose bytes (and so its sha256 digest) depend on ``seed``."""
    config_digest = "sha256:" + hashlib.sha256(f"config:{seed}".encode()).hexdigest()
    layer_digest = "sha256:" + hashlib.sha256(f"layer:{seed}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 7023,
                "digest": config_digest,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 32654,
                    "digest": layer_digest,
                }
            ],
        },
        separators=(",", ":"),
    )


def push_image(
    ecr: Any,
    events_client: Any,
    config_dir: Path,
    *,
    tag: str | None = None,
    repository: str = "app-images",
    seed: str | None = None,
    pusher: str | None = LOCAL_PUSHER,
) -> PushedImage:
    """What `docker push` + ECR do: store the image (its digest is the manifest's sha256), then emit the events:
    CloudTrail's PutImage record naming ``pusher`` (None: no trail, no record) and ECR's push event."""
    from slipway.domain.config import LocalConfigSource, load_config

    tag = tag or hashlib.sha1(uuid.uuid4().bytes).hexdigest()  # noqa: S324 - a commit-like tag, not security
    image = ecr.put_image(repositoryName=repository, imageManifest=image_manifest(seed or tag), imageTag=tag)["image"]
    digest = image["imageId"]["imageDigest"]
    if pusher is not None:
        put_event(events_client, ecr_put_image_call_event(repository, digest, tag, pusher, ecr.meta.region_name))
    event = ecr_push_event(repository, digest, tag, ecr.meta.region_name)
    put_event(events_client, event)
    config = load_config(LocalConfigSource(config_dir))
    release_ids = {
        p.name: release_id_for(p.name, digest) for p in config.for_repository(repository) if p.matches_tag(tag)
    }
    return PushedImage(repository=repository, tag=tag, digest=digest, release_ids=release_ids, event=event)
