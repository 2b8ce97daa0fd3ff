"""A person's view: JupyterLab in headless Chromium runs the quickstart on the Symphony kernel.

The server runs on a copy of notebooks/ (Lab autosaves; the originals hold nbval's outputs).
Chromium is Debian's (`make test` installs it); Playwright drives it and never downloads a browser.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (with token) of a JupyterLab serving a copy of notebooks/."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    port, token = free_port(), "symphony-browser-test"
    log = (root / "lab.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
            f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={root / 'notebooks'}",
        ],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SYMPHONY_STORE": ":memory:"},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"JupyterLab did not start: {(root / 'lab.log').read_text()[-2000:]}") from None
                time.sleep(0.5)
        yield f"{base}/lab/tree/01_quickstart.ipynb?token={token}"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield browser.new_page(viewport={"width": 1400, "height": 1000})
        browser.close()


def test_the_quickstart_runs_in_jupyterlab_and_shows_the_pit(lab: str, page: Page, tmp_path: Path) -> None:
    page.goto(lab)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    # The notebook opens on the Symphony kernel, which reaches idle with the Pit loaded.
    page.wait_for_selector(".jp-Toolbar-kernelName:has-text('Symphony')", timeout=90_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)

    page.click(".lm-MenuBar-item:has-text('Run')")
    page.click(".lm-Menu-item:has-text('Run All Cells')")

    # The last cells print the reopened store's artifact: everything above ran.
    page.wait_for_selector("text=b'survives restarts' ['keep']", timeout=120_000)
    page.screenshot(path=str(tmp_path / "quickstart.png"))
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    assert page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").count() == 0

    # text_content, not inner_text: JupyterLab does not paint cells scrolled out of view.
    cards = page.locator(".symphony-card")
    titles = [cards.nth(i).locator("strong").first.text_content() for i in range(cards.count())]
    assert "Pit" in titles
    assert "Pool Manager" in titles
    assert "Workflow etl" in titles
    pools = cards.filter(has_text="Pool Manager").first
    pools.screenshot(path=str(tmp_path / "pool-card.png"))  # scrolls it into view
    text = pools.text_content() or ""
    assert "summariser" in text
    assert "gpu_memory_mb 17000/24000" in text  # summariser + the idle, still hot shouter
    assert page.get_by_text("cache hit: True | same model: True").count() == 1
