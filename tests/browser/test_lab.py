"""A person's view: JupyterLab in headless Chromium runs the quickstart on the Symphony kernel.

The server runs on a copy of notebooks/ (Lab autosaves; the originals hold nbval's outputs).
Chromium is Debian's (`make test` installs it); Playwright drives it and never downloads a browser.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from symphony_kernel.labserver import jupyterlab

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL (``{notebook}`` to fill) of a JupyterLab serving a copy of notebooks/."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    with jupyterlab(root / "notebooks") as url:
        yield url


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield browser.new_page(viewport={"width": 1400, "height": 1000})
        browser.close()


def test_the_quickstart_runs_in_jupyterlab_and_shows_the_pit(lab: str, page: Page, tmp_path: Path) -> None:
    page.goto(lab.format(notebook="01_quickstart.ipynb"))
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
    # The ArtifactBrowser: rows for the artifacts, a click shows the value and its lineage.
    rows = page.locator("tr.artifact")
    assert rows.count() >= 2  # the raw csv and the features
    features = page.locator("tr.artifact", has_text="quickstart-1/featurise").first
    features.scroll_into_view_if_needed()
    features.click()
    page.wait_for_selector(".symphony-preview:has-text('scores')", timeout=10_000)
    assert page.locator(".symphony-lineage rect").count() == 2  # the features and the raw csv
    page.screenshot(path=str(tmp_path / "artifact-browser.png"))


def test_the_workflows_notebook_draws_live_views(lab: str, page: Page, tmp_path: Path) -> None:
    page.goto(lab.format(notebook="02_workflows.ipynb") + "&reset")  # only this notebook open
    page.wait_for_selector(".jp-Toolbar-kernelName:has-text('Symphony')", timeout=90_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
    page.click(".lm-MenuBar-item:has-text('Run')")
    page.click(".lm-Menu-item:has-text('Run All Cells')")

    # While `pit.run(etl)` blocks its cell (~1.2 s), the drawing above must already move.
    circles = page.locator(".symphony-dag circle.node")
    circles.first.wait_for(state="attached", timeout=90_000)  # cells out of view are not painted
    blocking = page.locator(".jp-CodeCell", has_text="run = pit.run(etl")
    moved_while_blocked = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        prompt = blocking.locator(".jp-InputPrompt").first.text_content() or ""
        states = {circles.nth(i).get_attribute("data-state") for i in range(circles.count())}
        if "*" in prompt and states & {"running", "succeeded"}:
            moved_while_blocked = True
            page.screenshot(path=str(tmp_path / "dag-while-running.png"))
            break
        if "*" not in prompt and "succeeded" in states:
            break  # the run is over
        time.sleep(0.03)
    assert moved_while_blocked, "no state change reached the drawing before the blocking cell finished"

    page.wait_for_selector("text=completed completed", timeout=120_000)
    assert circles.count() == 5  # one element per node
    final = {circles.nth(i).get_attribute("data-state") for i in range(5)}
    assert final == {"succeeded"}, final
    assert {circles.nth(i).get_attribute("fill") for i in range(5)} == {"#2a9d8f"}
    # A click shows the node's detail.
    circles.nth(0).click()
    page.wait_for_selector(".symphony-dag .detail:has-text('attempts 1')", timeout=10_000)
    # Pool bars, progress bars at their final counts, the event log.
    page.locator(".symphony-bar[data-pool='gpu']").first.wait_for(state="attached", timeout=30_000)
    assert page.locator(".symphony-progress").count() >= 6
    assert page.locator(".symphony-progress[data-done='5']").count() >= 1
    assert page.locator("tr.event").count() > 10
    page.screenshot(path=str(tmp_path / "workflows.png"), full_page=True)
    assert page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").count() == 0


def test_an_html_export_shows_the_static_snapshots(tmp_path: Path) -> None:
    # Saved widget state would make nbconvert embed live widgets (their JavaScript fetched from a
    # CDN) instead of the pictures: the committed notebooks keep none.
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        assert "widgets" not in json.loads(notebook.read_text())["metadata"], notebook.name
    out = tmp_path / "export"
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--output-dir", str(out),
         str(ROOT / "notebooks" / "02_workflows.ipynb")],
        check=True, capture_output=True,
    )  # fmt: skip
    page = (out / "02_workflows.html").read_text()
    assert page.count("<circle") >= 5  # the DagView's SVG
    assert "0/5 nodes" in page  # a progress bar's snapshot


def test_a_quest_player_button_advances_the_game(lab: str, page: Page, tmp_path: Path) -> None:
    page.goto(lab.format(notebook="03_function_quest.ipynb") + "&reset")
    page.wait_for_selector(".jp-Toolbar-kernelName:has-text('Symphony')", timeout=90_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
    page.click(".lm-MenuBar-item:has-text('Run')")
    page.click(".lm-Menu-item:has-text('Run All Cells')")
    page.wait_for_selector("text=True 3 steps, optimal 3", timeout=120_000)  # the solver won, watched
    player = page.locator(".symphony-quest-status").first
    player.scroll_into_view_if_needed()
    page.locator(".symphony-quest-control", has_text="Start again").first.click()
    page.wait_for_function(
        "() => document.querySelector('.symphony-quest-status .steps')?.textContent === '0'", timeout=10_000
    )
    page.locator(".symphony-quest-call").first.click()  # a person plays the first call
    page.wait_for_function(
        "() => document.querySelector('.symphony-quest-status .steps')?.textContent === '1'", timeout=10_000
    )
    assert "search_desk()" in (page.locator(".symphony-quest-status").first.locator("xpath=..").text_content() or "")
    page.screenshot(path=str(tmp_path / "quest-player.png"))
