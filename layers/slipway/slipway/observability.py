"""The one place that creates the Powertools Logger, Tracer and Metrics."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="slipway")
tracer = Tracer(service="slipway")
metrics = Metrics(namespace="Slipway", service="slipway")
