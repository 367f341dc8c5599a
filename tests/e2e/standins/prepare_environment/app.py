"""Stand-in: a plan without rendering; fails with a named error when asked to."""

from slipway.errors import TransientError

ATTEMPTS = {"count": 0}


def lambda_handler(event, context):
    env = event["environment"]
    release = event["release"]
    if "flaky" in release["tags"] and ATTEMPTS["count"] < 1:
        ATTEMPTS["count"] += 1
        raise TransientError("throttled (stand-in)")
    return {
        "release_id": release["release_id"],
        "environment": env,
        "approval_required": env == "production",
        "approval_timeout_seconds": 3600,
        "deployment_wait_seconds": 600,
        "application": "codedeploy-app",
        "deployment_group": f"codedeploy-deployment-group-{env}",
    }
