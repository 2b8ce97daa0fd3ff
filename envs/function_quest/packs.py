"""Level packs: loading `function-quest/1` files, folders of them, and the shipped campaign."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from symphony_pit import QuestLevel, ValidationError

#: The folder of the shipped level packs.
LEVELS_DIR = Path(__file__).with_name("levels")
#: Extensions a level file may have.
LEVEL_SUFFIXES = (".json", ".yaml", ".yml")

LevelSource = QuestLevel | str | os.PathLike[str] | Mapping[str, Any]


def load_level(source: LevelSource) -> QuestLevel:
    """A level from a `QuestLevel`, a file path, the id of a shipped level (``"locked-study"``),
    or a dict in the level format (as a JSON or YAML file would hold it).

    >>> load_level("locked-study").optimal_steps
    3
    """
    if isinstance(source, QuestLevel):
        return source
    if isinstance(source, Mapping):
        try:
            text = json.dumps(source, allow_nan=False)
        except (TypeError, ValueError) as bad:
            raise ValidationError(f"a level given as a dict must hold only JSON values: {bad}") from None
        return QuestLevel.from_json(text, source="<dict>")
    if not isinstance(source, str | os.PathLike):
        raise ValidationError(
            f"a level is a QuestLevel, a file path, a shipped level id or a dict, got {type(source).__name__}"
        )
    path = Path(source)
    if path.suffix in LEVEL_SUFFIXES and path.exists():
        return QuestLevel.load(path)
    found = _shipped_by_id().get(str(source))
    if found is None:
        shown = str(source) if len(str(source)) <= 200 else str(source)[:200] + "…"
        raise ValidationError(
            f"level {shown!r}: no such file, and no shipped level has that id "
            f"(shipped: {', '.join(sorted(_shipped_by_id())) or 'none'})"
        )
    return QuestLevel.load(found)


def load_pack(source: str | os.PathLike[str] | Iterable[LevelSource]) -> list[QuestLevel]:
    """Levels of a pack: a shipped pack name (``"campaign"``), a folder of level files (sorted by
    name), or an iterable of level sources."""
    if isinstance(source, str | os.PathLike):
        folder = Path(source)
        if not folder.is_dir():
            folder = LEVELS_DIR / str(source)
        if not folder.is_dir():
            raise ValidationError(f"level pack {str(source)!r}: not a folder and not a shipped pack")
        files = sorted(p for p in folder.iterdir() if p.suffix in LEVEL_SUFFIXES)
        if not files:
            raise ValidationError(f"level pack {str(folder)!r} holds no level files")
        return [QuestLevel.load(p) for p in files]
    levels = [load_level(s) for s in source]
    if not levels:
        raise ValidationError("a level pack needs at least one level")
    return levels


def campaign(bands: Sequence[int] | range | None = None) -> list[QuestLevel]:
    """The 20 hand-written campaign levels, one per difficulty band 1–20 (so four in each group of
    five: sequencing, resources, optimisation, orchestration); ``bands=range(1, 6)`` keeps some."""
    levels = load_pack("campaign")
    if bands is None:
        return levels
    return [lvl for lvl in levels if lvl.band in bands]


def _shipped_by_id() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(LEVELS_DIR.rglob("*")):
        if path.suffix in LEVEL_SUFFIXES:
            found[_peek_id(path)] = path
    return found


def _peek_id(path: Path) -> str:
    """A shipped file's id, read from its name (``07-night-shift.yaml`` → ``night-shift``; a test
    keeps every shipped file's name in step with the id inside it)."""
    stem = path.stem
    head, _, rest = stem.partition("-")
    return rest if head.isdigit() and rest else stem
