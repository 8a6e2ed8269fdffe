"""Fixtures of the security sweeps: two teams, each with one object of every kind."""

from __future__ import annotations

import pytest

from tests.security.world import World, build


@pytest.fixture
def world(owner, team_a, sim, settings, tmp_path) -> World:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return build(team_a, owner, sim, "甲")


@pytest.fixture
def other_world(other_owner, team_b, sim, world) -> World:
    return build(team_b, other_owner, sim, "乙")
