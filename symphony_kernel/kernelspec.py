"""The "Symphony" Jupyter kernelspec: an IPython kernel that loads ``symphony_kernel`` at start.

python -m symphony_kernel.kernelspec install [--user | --prefix PREFIX]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

KERNEL_NAME = "symphony"
DISPLAY_NAME = "Symphony"


def kernel_json(python: str = sys.executable) -> dict[str, Any]:
    """The kernel.json of the Symphony kernel for the given interpreter."""
    return {
        "argv": [
            python,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            "--IPKernelApp.extra_extensions=symphony_kernel",
        ],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True},
    }


def install(*, user: bool = False, prefix: str | None = None) -> str:
    """Install the kernelspec (default: into this interpreter's prefix); returns its directory."""
    from jupyter_client.kernelspec import KernelSpecManager

    if not user and prefix is None:
        prefix = sys.prefix
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "kernel.json").write_text(json.dumps(kernel_json(), indent=2))
        return str(KernelSpecManager().install_kernel_spec(tmp, KERNEL_NAME, user=user, prefix=prefix))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m symphony_kernel.kernelspec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install", help="install the Symphony kernelspec")
    where = inst.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="into the user's Jupyter data directory")
    where.add_argument("--prefix", help="into PREFIX/share/jupyter/kernels (default: sys.prefix)")
    args = parser.parse_args(argv)
    print(install(user=args.user, prefix=args.prefix))


if __name__ == "__main__":
    main()
