"""Integration fixtures: the one moto world (tests/support/world.py)."""

from tests.support.world import moto_world, moto_world_factory

__all__ = ["moto_world", "moto_world_factory"]
