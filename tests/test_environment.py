"""environment.yml describes the same environment as the pyproject files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def normalise(requirement: str) -> str:
    name, rest = re.match(r"^([A-Za-z0-9_.\-]+)(.*)$", requirement.strip()).groups()  # type: ignore[union-attr]
    return re.sub(r"[-_.]+", "-", name).lower() + rest.replace(" ", "")


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {
        normalise(r)
        for r in project["project"]["dependencies"] + project["dependency-groups"]["dev"]
        if not r.startswith("symphony-")  # built from this repository
    }
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {normalise(r) for r in pip_section} == wanted
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert project["project"]["requires-python"] == ">=" + python.split("=")[1]


def test_environment_yml_covers_the_function_quest_package() -> None:
    envs = tomllib.loads((ROOT / "envs" / "pyproject.toml").read_text())
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    research = {normalise(r) for r in root["project"]["dependencies"]}
    needed = {normalise(r) for r in envs["project"]["dependencies"] if not r.startswith("symphony-")}
    assert needed <= research, f"add {sorted(needed - research)} to the root pyproject and environment.yml"
