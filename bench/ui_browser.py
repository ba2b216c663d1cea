"""First-display times of every dashboard page on the built-in demo, in a real chromium, cold and warm.

A fresh server (empty runs folder and cache, so the demo cohort and model are what every page shows); each page
is opened by its URL, first on the cold server (the first visit of each page), then again (warm: caches
filled). The time runs from the navigation to the page's main content being visible and Streamlit's
"running" indicator gone: the Overview's graph, Cohort's data check, Model's first modality box, Train's run form, the Latent
graph's network canvas, Traversal's first chart, Evaluate's first metric. Writes bench/results/<name>.md and
.json. Run alone: these 2 cores vary by about 30 %.

The server warms its caches in the background once the first page is drawn (crl/ui/warmup.py). `--pause S`
waits S seconds on the first screen before the other pages are opened, as a presenter talking over the Overview
would (0: the worst case, straight on); `--no-warmup` measures the server without it (CRL_WARMUP=0).
`--via click` moves between pages by their sidebar links, as a presenter does, instead of loading each URL.

    python bench/ui_browser.py [--rounds 3] [--pause 0] [--no-warmup] [--via url|click] [--name ui_browser]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
sys.path.insert(0, str(ROOT / "bench"))
from _common import RESULTS, invocation, save_runs  # noqa: E402
from dashboard import serve, wait_for_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
# page path -> a selector that is visible once its main content is drawn
PAGES = {
    "overview": "iframe",
    "cohort": "text=subjects",
    "model": "text=Networks per modality",
    "train": "text=New run",
    "graph": "iframe",
    "traversal": '[data-testid="stPlotlyChart"], [data-testid="stImage"]',
    "evaluate": '[data-testid="stMetric"]',
}


# The sidebar link of each page, for --via click.
TITLES = {
    "overview": "Overview",
    "cohort": "Cohort",
    "model": "Model",
    "train": "Train",
    "graph": "Latent graph",
    "traversal": "Traversal",
    "evaluate": "Evaluate",
}


def _idle(page) -> None:
    """Streamlit's 'running' indicator gone (no fixed pause: the content looked for shows the run started)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000
    )


def _first_display(page, url: str, name: str, via: str) -> float:
    """Seconds until `name`'s main content is visible and Streamlit idle: opened by its URL (a full page load)
    or by a click on its sidebar link (the app stays loaded, as a presenter moves between pages)."""
    started = time.perf_counter()
    if via == "url":
        page.goto(url)
        content = page.locator(PAGES[name])
    else:
        page.locator('[data-testid="stSidebarNav"] a', has_text=TITLES[name]).first.click()
        # Only elements of this run: the previous page's stay on screen, marked stale, until replaced.
        content = page.locator('[data-stale="false"]').locator(PAGES[name])
    content.first.wait_for(state="visible", timeout=180_000)
    _idle(page)
    return time.perf_counter() - started


def measure(rounds: int, pause: float = 0.0, warmup: bool = True, via: str = "url") -> list[dict]:
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "CRL_CACHE": f"{tmp}/cache",
            "CRL_RUNS": f"{tmp}/runs",
            "CRL_QUEUE_DIR": f"{tmp}/queue",
            "CRL_WARMUP": "1" if warmup else "0",
        }
        with serve(env) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(url)  # through the app's router once, as a visitor's first request would
            wait_for_app(page, timeout_ms=180_000)
            time.sleep(pause)
            for visit in range(rounds + 1):
                for name in PAGES:
                    path = "" if name == "overview" else name  # the app opens on the Overview
                    seconds = _first_display(page, f"{url}/{path}", name, via)
                    rows.append({"page": name, "visit": "cold" if visit == 0 else "warm", "seconds": seconds})
                    print(f"{name:10s} {'cold' if visit == 0 else 'warm'} {seconds:6.2f} s", flush=True)
            browser.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="warm visits of every page")
    parser.add_argument(
        "--pause", type=float, default=0.0, help="seconds on the first screen before the rest"
    )
    parser.add_argument("--no-warmup", action="store_true", help="switch the server's cache warming off")
    parser.add_argument(
        "--via", choices=("url", "click"), default="url", help="open pages by URL or by their sidebar link"
    )
    parser.add_argument("--name", default="ui_browser")
    args = parser.parse_args()
    rows = measure(args.rounds, args.pause, not args.no_warmup, args.via)
    save_runs(args.name, args, rows)
    lines = [
        f"# First display of every page on the demo ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `{invocation('ui_browser.py')}` on {platform.node() or 'this machine'}; chromium at 1280x720, "
        "a fresh server opened once at its root (the Overview, so its cold figure is a second visit), "
        f"{args.pause:g} s on it before the other pages, opened by "
        f"{'URL (a full page load each)' if args.via == 'url' else 'a click on their sidebar link'}, background cache warming "
        f"{'off' if args.no_warmup else 'on'}; seconds from navigation to the page's main content with Streamlit "
        "idle.",
        "",
        "| page | cold | warm (median) | warm (max) |",
        "|---|---|---|---|",
    ]
    for name in PAGES:
        cold = next(r["seconds"] for r in rows if r["page"] == name and r["visit"] == "cold")
        warm = [r["seconds"] for r in rows if r["page"] == name and r["visit"] == "warm"]
        lines.append(f"| {name} | {cold:.2f} | {statistics.median(warm):.2f} | {max(warm):.2f} |")
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
