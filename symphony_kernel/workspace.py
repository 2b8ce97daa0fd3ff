"""The folder ``make lab`` serves: copies of the tutorial notebooks, so playing leaves the repo clean.

JupyterLab saves a notebook as it runs (outputs, widget state); the committed notebooks hold the
outputs nbval checks. ``make lab`` serves copies in a git-ignored folder instead: a copy is made
when missing and refreshed when its original changed since it was made, and a copy the user has
edited since is kept (the original goes beside it, under ``.new``, rather than over their work).

python -m symphony_kernel.workspace SOURCE TARGET
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

#: Which original each copy was made from (by content hash), kept in the target folder.
MANIFEST = ".copied-from.json"


def _digest(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


def prepare(source: Path, target: Path) -> list[str]:
    """Bring ``target`` up to date with the notebooks of ``source``; returns what it did, a line
    per notebook touched.

    >>> import tempfile
    >>> src, dst = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp()) / "lab"
    >>> _ = (src / "a.ipynb").write_text("{}")
    >>> prepare(src, dst)
    ['copied a.ipynb']
    >>> prepare(src, dst)
    []
    """
    target.mkdir(parents=True, exist_ok=True)
    manifest_path = target / MANIFEST
    made: dict[str, dict[str, str]] = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    done: list[str] = []
    for original in sorted(source.glob("*.ipynb")):
        copy, name = target / original.name, original.name
        source_hash = _digest(original)
        record = made.get(name)
        if copy.exists() and record is not None and record["source"] == source_hash:
            continue  # the original has not changed since the copy was made
        if copy.exists() and (record is None or _digest(copy) != record["copy"]):
            shutil.copyfile(original, copy.with_name(copy.name + ".new"))
            done.append(f"kept your {name}; the new original is {name}.new")
            continue
        shutil.copyfile(original, copy)
        made[name] = {"source": source_hash, "copy": _digest(copy)}
        done.append(f"copied {name}")
    manifest_path.write_text(json.dumps(made, indent=2))
    return done


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m symphony_kernel.workspace SOURCE TARGET")
    for line in prepare(Path(args[0]), Path(args[1])):
        print(line)


if __name__ == "__main__":
    main()
