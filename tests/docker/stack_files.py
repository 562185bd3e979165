"""Where the docker/ stack's files are, and reading them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DOCKER = Path(__file__).parents[2] / "docker"


def load_yaml(relative: str) -> Any:
    """A YAML file of the stack, parsed."""
    return yaml.safe_load((DOCKER / relative).read_text())
