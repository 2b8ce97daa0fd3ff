"""Widget benchmark: DagView in JupyterLab in headless Chromium, through a real kernel.

Measured, each against the issue's goal:

1. Time to first render of a DagView of 1,000 and of 10,000 nodes: from pressing Shift+Enter on
   ``DagView(workflow)`` to every node's element being in the page (kernel work, the message,
   the drawing). Goals: ≤ 300 ms and ≤ 2 s.
2. Change to pixel: from the moment a run starts in the kernel (its clock) to the moment the
   browser sees the first node's element turn *running* (the browser's clock, the same machine).
   Goal: ≤ 200 ms.
3. Messages and bytes the kernel sends to the browser per second during a 10,000-node run
   followed by a DagView, counted at ipywidgets' ``Widget._send``. Limits: jupyter_server's
   iopub defaults, 1,000 messages/s and 1 MB/s.

Run::

    python benchmarks/bench_widgets.py [--rounds N] [--record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import nbformat
from playwright.sync_api import Page, sync_playwright

from symphony_kernel.labserver import jupyterlab

RESULTS = Path(__file__).with_name("RESULTS.md")
CHROMIUM = "/usr/bin/chromium"

SETUP = """
import json, threading, time
import ipywidgets
from symphony_pit import Workflow
from symphony_widgets import DagView

def layered(name, layers, width):
    wf = Workflow(name)
    for layer in range(layers):
        for k in range(width):
            deps = [] if layer == 0 else [f"t{layer - 1}_{k}", f"t{layer - 1}_{(k + 1) % width}"]
            if deps:
                wf.add_node(f"t{layer}_{k}", "calculator", operation="mul", inputs=deps)  # 0 x 0: stays small
            else:
                wf.add_node(f"t{layer}_{k}", "constant", value=0)
    return wf

small, big = layered("small", 100, 10), layered("big", 1000, 10)
gate = threading.Event()
gated = Workflow("gated")
gated.add_node("first", lambda: gate.wait(30))

sent = {"messages": 0, "bytes": 0}
_send = ipywidgets.Widget._send
def counting_send(self, msg, buffers=None):
    sent["messages"] += 1
    sent["bytes"] += len(json.dumps(msg, default=str)) + sum(len(b) for b in buffers or [])
    return _send(self, msg, buffers)
ipywidgets.Widget._send = counting_send
"""


def run_cell(page: Page, index: int) -> None:
    """Select cell ``index`` and run it (Shift+Enter)."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")


def wait_idle(page: Page) -> None:
    page.wait_for_function(
        "() => document.querySelector(\".jp-Notebook-ExecutionIndicator\")?.dataset.status === 'idle'",
        timeout=120_000,
    )


def output_text(page: Page, index: int) -> str:
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea").text_content() or ""


def one_round(page: Page, url: str) -> dict[str, float]:
    page.goto(url)
    page.wait_for_selector(".jp-Toolbar-kernelName:has-text('Symphony')", timeout=90_000)
    wait_idle(page)
    run_cell(page, 0)
    wait_idle(page)
    figures: dict[str, float] = {}
    for index, (name, nodes) in enumerate(
        (("first render, 1,000 nodes", 1_000), ("first render, 10,000 nodes", 10_000)), 1
    ):
        start = time.perf_counter()
        run_cell(page, index)
        page.wait_for_function(
            f"() => [...document.querySelectorAll('.symphony-dag')].some(d => d.querySelectorAll('circle.node').length === {nodes})",
            timeout=60_000,
        )
        figures[name] = (time.perf_counter() - start) * 1e3
        wait_idle(page)
    # Change to pixel: watch the gated view's node, then start its run.
    run_cell(page, 3)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.symphony-dag')].some(d => d.querySelectorAll('circle.node').length === 1)",
        timeout=60_000,
    )
    wait_idle(page)
    page.evaluate(
        """() => {
            const dag = [...document.querySelectorAll('.symphony-dag')].find(d => d.querySelectorAll('circle.node').length === 1);
            const node = dag.querySelector('circle.node');
            window.__changedAt = null;
            new MutationObserver(() => {
                if (node.dataset.state === 'running' && window.__changedAt === null) window.__changedAt = performance.timeOrigin + performance.now();
            }).observe(node, { attributes: true });
        }"""
    )
    run_cell(page, 4)
    page.wait_for_function("() => window.__changedAt !== null", timeout=30_000)
    changed_at = float(page.evaluate("() => window.__changedAt"))
    wait_idle(page)
    started_at = float(output_text(page, 4).split("T0", 1)[1].split()[0])
    figures["change to pixel"] = changed_at - started_at
    # Messages during a 10,000-node run followed by the 10,000-node view.
    run_cell(page, 5)
    page.wait_for_function("() => document.body.innerText.includes('MESSAGES')", timeout=120_000)
    wait_idle(page)
    report = json.loads(output_text(page, 5).split("MESSAGES", 1)[1].strip().splitlines()[0])
    figures["messages/s during a 10,000-node run"] = report["messages"] / report["seconds"]
    figures["bytes/s during a 10,000-node run"] = report["bytes"] / report["seconds"]
    figures["10,000-node run (s)"] = report["seconds"]
    return figures


def notebook(path: Path) -> None:
    cells = [
        SETUP,
        "v1 = DagView(small)\nv1",
        "v10 = DagView(big)\nv10",
        "g = DagView(gated)\ng",
        "t0 = time.time() * 1000\nthreading.Thread(target=pit.run, args=(gated,), daemon=True).start()\n"
        "time.sleep(0.5)\ngate.set()\nprint('T0', t0)",
        "sent.update(messages=0, bytes=0)\nstart = time.perf_counter()\npit.run(big, cache=False)\n"
        "while v10.status != 'completed':\n    time.sleep(0.01)\ntime.sleep(0.3)  # the last batch goes out\n"
        "print('MESSAGES', json.dumps({**sent, 'seconds': time.perf_counter() - start}))",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {"name": "symphony", "display_name": "Symphony", "language": "python"}
    nbformat.write(nb, path)  # type: ignore[no-untyped-call]


GOALS = {
    "first render, 1,000 nodes": ("ms", 300.0),
    "first render, 10,000 nodes": ("ms", 2_000.0),
    "change to pixel": ("ms", 200.0),
    "messages/s during a 10,000-node run": ("msg/s", 1_000.0),
    "bytes/s during a 10,000-node run": ("B/s", 1_000_000.0),
    "10,000-node run (s)": ("s", float("inf")),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="append the figures to RESULTS.md")
    args = parser.parse_args()
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "notebooks"  # the server's log and workspace go beside it, in tmp
        root.mkdir()
        notebook(root / "bench.ipynb")
        with jupyterlab(root) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for k in range(args.rounds):
                shutil.copyfile(root / "bench.ipynb", root / f"bench-{k}.ipynb")
                try:
                    rounds.append(one_round(page, url.format(notebook=f"bench-{k}.ipynb") + "&reset"))
                except Exception:
                    page.screenshot(path=str(Path(tempfile.gettempdir()) / "bench_widgets_failed.png"))
                    raise
                print(f"round {k + 1}/{args.rounds}: " + json.dumps({n: round(v, 1) for n, v in rounds[-1].items()}))
            browser.close()
    rows = []
    print(f"\nDagView in JupyterLab (headless Chromium), median of {args.rounds} rounds:")
    for name, (unit, goal) in GOALS.items():
        median = statistics.median(r[name] for r in rounds)
        verdict = "" if goal == float("inf") else (" meets" if median <= goal else " MISSES") + f" ≤ {goal:,.0f} {unit}"
        rows.append((name, median, unit, verdict))
        print(f"  {name:38} {median:12,.1f} {unit}{verdict}")
    if args.record:
        lines = [
            f"\n## bench_widgets — {dt.date.today().isoformat()}\n",
            f"`python benchmarks/bench_widgets.py --rounds {args.rounds}`: DagView in JupyterLab in headless Chromium",
            "through a Symphony kernel, median of the rounds.\n",
            "| measure | median | goal |",
            "|---|---|---|",
            *[f"| {n} | {m:,.1f} {u} | {v.strip()} |" for n, m, u, v in rows],
        ]
        with RESULTS.open("a") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
