"""Integration fixtures: the one moto world (tests/support/world.py), and the release flow and the approval gate
over it."""

from tests.support.approvals import world_factory
from tests.support.release_flow import env
from tests.support.world import moto_world, moto_world_factory

__all__ = ["env", "moto_world", "moto_world_factory", "world_factory"]
