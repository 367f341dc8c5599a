"""ECR DescribeImages: the digest (and every tag) behind the tag a CodePipeline build wrote to imageDetail.json."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slipway.domain.intake import JobInputError, ResolvedImage

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient


class EcrImages:
    def __init__(self, ecr: ECRClient) -> None:
        self._ecr = ecr

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
