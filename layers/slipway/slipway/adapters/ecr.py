"""ECR reads: the digest (and every tag) behind a tag, every tag of a digest, the image config's labels, scans.

``resolve`` serves the CodePipeline intake (the tag a build wrote to imageDetail.json); ``image_tags`` and
``image_labels`` serve ``slipway.domain.image_facts`` (PrepareEnvironment of the first environment);
``scan`` serves the scan gate; ``has_image`` the replication check of an environment in another region.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from slipway.adapters.aws import transient_errors
from slipway.errors import JobInputError
from slipway.models.records import ResolvedImage, ScanResult

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient


# BatchGetImage: only single-image manifests (a multi-arch index has no config blob of its own).
MANIFEST_MEDIA_TYPES = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
]
CONFIG_TIMEOUT_SECONDS = 3.0
MAX_CONFIG_BYTES = 1024 * 1024


class ImageLookupError(Exception):
    """An image's tags or labels could not be read (the caller logs it and carries on)."""


class EcrImages:
    def __init__(self, ecr: ECRClient, *, timeout_seconds: float = CONFIG_TIMEOUT_SECONDS) -> None:
        self._ecr = ecr
        self._timeout = timeout_seconds

    @staticmethod
    def _ids(registry_id: str | None, repository: str) -> dict[str, Any]:
        return {"repositoryName": repository, **({"registryId": registry_id} if registry_id else {})}

    def image_tags(self, registry_id: str | None, repository: str, digest: str) -> list[str]:
        """Every tag the digest carries now (DescribeImages by digest)."""
        image_id: Any = {"imageDigest": digest}
        details = self._ecr.describe_images(**self._ids(registry_id, repository), imageIds=[image_id])["imageDetails"]
        return sorted({str(tag) for detail in details for tag in detail.get("imageTags", [])})

    def image_labels(self, registry_id: str | None, repository: str, digest: str) -> dict[str, str]:
        """The image config's ``config.Labels``: BatchGetImage -> manifest -> config blob (GetDownloadUrlForLayer)."""
        image_id: Any = {"imageDigest": digest}
        response = self._ecr.batch_get_image(
            **self._ids(registry_id, repository), imageIds=[image_id], acceptedMediaTypes=MANIFEST_MEDIA_TYPES
        )
        images = response.get("images") or []
        if not images or not images[0].get("imageManifest"):
            failures = [f"{f.get('failureCode')}: {f.get('failureReason')}" for f in response.get("failures") or []]
            raise ImageLookupError(f"BatchGetImage returned no manifest for {repository}@{digest} ({failures})")
        try:
            manifest = json.loads(images[0]["imageManifest"])
        except ValueError as exc:
            raise ImageLookupError(f"the manifest of {repository}@{digest} is not JSON: {exc}") from None
        config_ref = manifest.get("config") if isinstance(manifest, dict) else None
        config_digest = config_ref.get("digest") if isinstance(config_ref, dict) else None
        if not isinstance(config_digest, str) or not config_digest.startswith("sha256:"):
            media = manifest.get("mediaType") if isinstance(manifest, dict) else None
            raise ImageLookupError(f"the manifest of {repository}@{digest} ({media}) names no config digest")
        url = self._ecr.get_download_url_for_layer(**self._ids(registry_id, repository), layerDigest=config_digest)[
            "downloadUrl"
        ]
        blob = self._download(url)
        if hashlib.sha256(blob).hexdigest() != config_digest.removeprefix("sha256:"):
            raise ImageLookupError(f"the config blob of {repository}@{digest} does not match {config_digest}")
        try:
            config = json.loads(blob)
        except ValueError as exc:
            raise ImageLookupError(f"the config blob of {repository}@{digest} is not JSON: {exc}") from None
        inner = config.get("config") if isinstance(config, dict) else None
        labels = inner.get("Labels") if isinstance(inner, dict) else None
        return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}

    def _download(self, url: str) -> bytes:
        """GET a pre-signed URL (S3 in AWS) with a short timeout; only http(s)."""
        if not url.startswith(("https://", "http://")):
            raise ImageLookupError(f"refusing to download the config blob from a non-HTTP URL: {url[:40]}...")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (scheme checked)
        with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310 (scheme checked)
            blob: bytes = response.read(MAX_CONFIG_BYTES + 1)
        if len(blob) > MAX_CONFIG_BYTES:
            raise ImageLookupError(f"the config blob is larger than {MAX_CONFIG_BYTES} bytes")
        return blob

    def resolve(self, registry_id: str, repository: str, tag: str | None, digest: str | None) -> ResolvedImage:
        image_id: Any = {"imageDigest": digest} if digest else {"imageTag": tag}
        shown = f"{repository}@{digest}" if digest else f"{repository}:{tag}"
        try:
            details = self._ecr.describe_images(registryId=registry_id, repositoryName=repository, imageIds=[image_id])[
                "imageDetails"
            ]
        except self._ecr.exceptions.RepositoryNotFoundException:
            raise JobInputError(f"ECR repository {repository!r} does not exist in account {registry_id}") from None
        except self._ecr.exceptions.ImageNotFoundException:
            raise JobInputError(f"image {shown} was not found in ECR: was it pushed, or deleted since?") from None
        if not details:
            raise JobInputError(f"image {shown} was not found in ECR")
        detail = details[0]
        return ResolvedImage(
            digest=detail["imageDigest"],
            tags=list(detail.get("imageTags", [])),
            pushed_at=detail.get("imagePushedAt"),
        )

    def has_image(self, registry_id: str | None, repository: str, digest: str) -> bool:
        """Is ``digest`` in this registry's ``repository`` (DescribeImages by digest)? A missing repository is a
        replication that has not started yet, so it answers False too."""
        image_id: Any = {"imageDigest": digest}
        try:
            with transient_errors(f"DescribeImages {repository}@{digest}"):
                self._ecr.describe_images(**self._ids(registry_id, repository), imageIds=[image_id])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("ImageNotFoundException", "RepositoryNotFoundException"):
                return False
            raise
        return True

    def scan(self, registry_id: str | None, repository: str, digest: str) -> ScanResult:
        """``DescribeImageScanFindings`` of one digest: status (NOT_FOUND when nothing was scanned) and counts."""
        kwargs: dict[str, Any] = {**self._ids(registry_id, repository), "imageId": {"imageDigest": digest}}
        try:
            with transient_errors(f"DescribeImageScanFindings {repository}@{digest}"):
                response = self._ecr.describe_image_scan_findings(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("ScanNotFoundException", "ImageNotFoundException"):
                return ScanResult("NOT_FOUND")
            raise
        status = response.get("imageScanStatus", {}).get("status", "UNKNOWN")
        counts = response.get("imageScanFindings", {}).get("findingSeverityCounts", {})
        return ScanResult(str(status), {str(k): int(v) for k, v in counts.items()})
