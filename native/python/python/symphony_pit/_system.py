"""Facts about the running installation, for bug reports and benchmark records."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

from symphony_pit._native import BUILD_INFO, VERSION


def _version_of(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def system_info() -> dict[str, Any]:
    """Versions and platform details: the Pit build, Python, the OS and key libraries.

    >>> system_info()["symphony_pit"] == VERSION
    True
    """
    return {
        "symphony_pit": VERSION,
        "build": dict(BUILD_INFO),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": _version_of("numpy"),
        "pandas": _version_of("pandas"),
    }
