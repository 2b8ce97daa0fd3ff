"""The "Symphony" Jupyter kernelspec: an IPython kernel that opens the session's Pit at start.

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
            # Opened here, not through `extra_extensions`: then a notebook's own `%load_ext
            # symphony_kernel` is the extension's first load (IPython says nothing, the card shows).
            "--IPKernelApp.exec_lines=__import__('symphony_kernel.extension').extension.start_in_kernel()",
        ],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True},
    }


#: The kernel's logo (the Launcher and the notebook's kernel indicator show it): a baton's arc
#: over three notes, in the card's purple.
LOGO_SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">
<rect width="64" height="64" rx="12" fill="#6a4c93"/>
<path d="M10 44 Q32 8 54 20" stroke="#ffffff" stroke-width="4" fill="none" stroke-linecap="round"/>
<circle cx="18" cy="48" r="5" fill="#ffca3a"/><circle cx="32" cy="44" r="5" fill="#8ac926"/>
<circle cx="46" cy="48" r="5" fill="#1982c4"/>
</svg>
"""


def logo_png(size: int) -> bytes:
    """The logo as a PNG of ``size`` pixels square (JupyterLab's Launcher asks for 32 and 64),
    drawn here so the kernelspec needs no image library: the purple tile with three notes."""
    import struct
    import zlib

    purple, colours = (0x6A, 0x4C, 0x93), [(0xFF, 0xCA, 0x3A), (0x8A, 0xC9, 0x26), (0x19, 0x82, 0xC4)]
    notes = [(18 / 64, 48 / 64), (32 / 64, 44 / 64), (46 / 64, 48 / 64)]
    radius = 5 / 64 * size
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # no filter
        for x in range(size):
            pixel = purple
            for (cx, cy), colour in zip(notes, colours, strict=True):
                if (x + 0.5 - cx * size) ** 2 + (y + 0.5 - cy * size) ** 2 <= radius**2:
                    pixel = colour
            rows.extend(pixel)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")
    )


def install(*, user: bool = False, prefix: str | None = None) -> str:
    """Install the kernelspec (default: into this interpreter's prefix); returns its directory."""
    from jupyter_client.kernelspec import KernelSpecManager

    if not user and prefix is None:
        prefix = sys.prefix
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "kernel.json").write_text(json.dumps(kernel_json(), indent=2))
        (Path(tmp) / "logo-svg.svg").write_text(LOGO_SVG)
        for size in (32, 64):
            (Path(tmp) / f"logo-{size}x{size}.png").write_bytes(logo_png(size))
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
