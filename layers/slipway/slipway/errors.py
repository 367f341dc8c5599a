"""Errors that cross the state machine boundary.

Step Functions matches a Lambda failure by its ``errorType``, which is the exception's class name, so the names
here are part of the contract with ``statemachine/release.asl.json`` (Retry/Catch) and with SendTaskFailure.
"""

from __future__ import annotations


class SlipwayError(Exception):
    """Base class: a problem slipway understands and can explain to a person."""


class ConfigError(SlipwayError):
    """The pipeline configuration is invalid; the message names the file, the path and the problem."""


class RenderError(SlipwayError):
    """A task definition or AppSpec could not be rendered or failed validation."""


class LockBusy(SlipwayError):
    """Another release holds the environment lock; the state machine retries (queue policy)."""


class Superseded(SlipwayError):
    """A newer release of the same pipeline replaced this one while it was waiting."""


class Rejected(SlipwayError):
    """A person rejected the approval."""


class Expired(SlipwayError):
    """Nobody approved in time."""


class PromotionRefused(SlipwayError):
    """An environment was asked to deploy a digest that did not pass the environments before it."""


class DeploymentFailed(SlipwayError):
    """CodeDeploy reported FAILURE or STOP."""


class DeploymentTimedOut(SlipwayError):
    """No state-change event arrived and CodeDeploy still reports the deployment in progress."""


class TargetAccessDenied(SlipwayError):
    """slipway could not assume an environment's deploy role (no trust, wrong external id): the message names the
    role and the fix."""


class TransientError(SlipwayError):
    """A throttling or temporary AWS error; the state machine retries with backoff."""


class MalformedEvent(SlipwayError):
    """An incoming event does not have the shape AWS documents; the message names the missing field."""


class JobInputError(SlipwayError):
    """The CodePipeline job cannot start a release; the message tells a person what to fix."""


class TokenNoLongerValid(SlipwayError):
    """Step Functions or CodePipeline no longer waits for this task or approval (timed out, answered, or gone)."""


class DecisionConflict(Exception):
    """A conditional write failed: the record changed since it was read; the caller re-reads and decides again."""


class ApprovalExists(Exception):
    """An approval with this id is stored already (a redelivered notification)."""
