"""The tick runtime's tests use the rollout tests' moto world (``world``, ``kit``, ``rig``).

tests/ has no ``__init__.py``, so the rollout conftest is loaded here by path, under its own
module name, and its fixtures are re-exported for this directory.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "rollout" / "conftest.py"
_NAME = "rollout_world_conftest"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, _PATH)
    assert _spec is not None and _spec.loader is not None
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
rollout_world = sys.modules[_NAME]

world = rollout_world.world
kit = rollout_world.kit
rig = rollout_world.rig
