"""Reading configuration and templates from S3 (``s3://bucket/prefix``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slipway.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ConfigError(f"{uri}: expected an s3://bucket/key URI")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ConfigError(f"{uri}: the S3 URI names no bucket")
    return bucket, key


def read_s3_text(s3: S3Client, uri: str) -> str:
    bucket, key = split_s3_uri(uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise ConfigError(f"{uri}: no such object") from None
    return body.decode("utf-8")


class S3ConfigSource:
    """A ``ConfigSource`` over an S3 prefix (the template's ConfigLocation parameter)."""

    def __init__(self, s3: S3Client, uri: str) -> None:
        self._s3 = s3
        self._bucket, prefix = split_s3_uri(uri)
        self._prefix = prefix.strip("/")

    def _key(self, relative: str) -> str:
        return f"{self._prefix}/{relative}" if self._prefix else relative

    def describe(self, relative: str) -> str:
        return f"s3://{self._bucket}/{self._key(relative)}"

    def read_text(self, relative: str) -> str:
        if relative.startswith("s3://"):
            return read_s3_text(self._s3, relative)
        return read_s3_text(self._s3, self.describe(relative))

    def list_files(self, relative_dir: str) -> list[str]:
        prefix = self._key(relative_dir).rstrip("/") + "/" if relative_dir or self._prefix else ""
        names: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rest = obj["Key"][len(prefix) :]
                if rest and "/" not in rest:
                    names.append(f"{relative_dir}/{rest}" if relative_dir else rest)
        return sorted(names)
