"""The engine's layout as the developer guide (native/README.md) describes it: the top-level
modules of `native/pit/src` depend on each other in one direction only, `core` on nothing."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "native" / "pit" / "src"
#: Names the crate root re-exports from `core` at their old paths.
CORE_ALIASES = {"error", "value", "resources", "flat_lists", "now", "known"}


def module_dependencies() -> dict[str, set[str]]:
    """Top-level module → the top-level modules its code (tests left out) names by `crate::`."""
    found: dict[str, set[str]] = {}
    for entry in SRC.iterdir():
        if entry.name == "lib.rs":
            continue
        name = entry.stem
        files = [entry] if entry.is_file() else sorted(entry.rglob("*.rs"))
        deps: set[str] = set()
        for file in files:
            text = file.read_text().split("#[cfg(test)]")[0]
            text = re.sub(r"//.*", "", text)
            for used in re.findall(r"crate::([a-z_]+)", text):
                deps.add("core" if used in CORE_ALIASES else used)
        found[name] = deps - {name}
    return found


def test_core_depends_on_nothing_and_no_modules_depend_on_each_other_in_a_circle() -> None:
    deps = module_dependencies()
    assert deps["core"] == set()
    assert deps["events"] <= {"core"}
    assert deps["persist"] <= {"core"}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in deps.get(start, set()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reaches(nxt, goal, seen):
                    return True
        return False

    cycles = sorted((a, b) for a in deps for b in deps[a] if reaches(b, a, set()))
    assert not cycles, f"modules that need each other: {cycles}"


def test_the_developer_guide_names_every_top_level_module() -> None:
    guide = (SRC.parents[1] / "README.md").read_text()
    for module in module_dependencies():
        assert f"`{module}`" in guide, f"native/README.md does not describe `{module}`"
