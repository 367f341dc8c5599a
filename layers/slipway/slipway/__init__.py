"""slipway: a serverless control plane that ships container images to Amazon ECS."""

__version__ = "0.1.0"
