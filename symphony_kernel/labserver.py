"""A JupyterLab server for automated checks (the browser tests, bench_widgets).

It listens on a free loopback port with a fixed token, keeps its workspace in the served folder
(so no tabs are restored from other runs), and gives its kernels ``SYMPHONY_STORE=:memory:``.

>>> with jupyterlab(Path("/tmp/notebooks")) as url:   # doctest: +SKIP
...     page.goto(url.format(notebook="01_quickstart.ipynb"))
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The token the server asks for (it listens on loopback only).
TOKEN = "symphony-checks"


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def jupyterlab(root: Path, startup_timeout: float = 90) -> Iterator[str]:
    """Serve ``root`` with JupyterLab; yields the URL of a notebook, ``{notebook}`` to fill in.
    The server's log is ``root/../lab.log``; it is stopped on exit."""
    port = free_port()
    log_path = root.parent / f"{root.name}-lab.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
                f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.token={TOKEN}",
                f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={root.parent / (root.name + '-workspaces')}",
            ],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SYMPHONY_STORE": ":memory:"},
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError(f"JupyterLab did not start: {log_path.read_text()[-2000:]}") from None
                    time.sleep(0.5)
            yield f"{base}/lab/tree/{{notebook}}?token={TOKEN}"
        finally:
            server.terminate()
            server.wait(timeout=30)
