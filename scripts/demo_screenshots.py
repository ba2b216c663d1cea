"""Screenshots of the dashboard on the shipped demo, for docs/demo.md's presenter walkthrough.

    python scripts/demo_screenshots.py [--out docs/img]

Starts the dashboard on a free loopback port with empty run and cache folders (so it shows exactly what a new
user sees), drives Debian's chromium with Playwright through the walkthrough's steps and writes one PNG per
step, then the first screen of every page on a 1280x720 projector at 100 % and 150 % browser zoom
(screen-<page>-100.png, screen-<page>-150.png). Needs the test extras (`make test` installs them) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from dashboard import serve  # noqa: E402  (the browser tests' server helper)

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT, TALL = 1400, 1000, 2000


def _settle(page, timeout: float = 180) -> None:
    """Wait until Streamlit has finished running the page, then let iframes and plotly draw."""
    page.wait_for_timeout(800)
    page.wait_for_function(
        "() => { const app = document.querySelector('[data-testid=\"stApp\"]');"
        " const state = app && app.getAttribute('data-test-script-state');"
        " return state && state !== 'running' && state !== 'initial'"
        " && !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && !document.querySelector('[data-testid=\"stSpinner\"]'); }",
        timeout=timeout * 1000,
    )
    page.wait_for_timeout(2000)


def _open(page, title: str) -> None:
    page.get_by_role("link", name=title).first.click()
    _settle(page)


# A presenter's projector (1280x720), and the same screen at 150 % browser zoom (the CSS viewport shrinks).
PROJECTOR = {"100": (1280, 720, 1.0), "150": (853, 480, 1.5)}
PAGES = ("overview", "cohort", "model", "train", "graph", "traversal", "evaluate")


def _projector_shots(browser, url: str, out: Path) -> list[Path]:
    """The first screen of every page as the audience sees it: screen-<page>-<zoom>.png."""
    paths = []
    for zoom, (width, height, scale) in PROJECTOR.items():
        page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=scale)
        for name in PAGES:
            page.goto(f"{url}/{'' if name == 'overview' else name}")
            _settle(page)
            path = out / f"screen-{name}-{zoom}.png"
            page.screenshot(path=str(path))
            paths.append(path)
        page.close()
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="crl-shots-") as scratch:
        env = {"CRL_CACHE": f"{scratch}/cache", "CRL_RUNS": f"{scratch}/runs"}
        with serve(env) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(f"{url}/cohort")  # the app opens on the Overview; the walkthrough starts with the data
            _settle(page)
            shots = []

            def shot(name: str, full: bool = False, element=None) -> None:
                path = args.out / f"demo-{len(shots) + 1}-{name}.png"
                if element is not None:
                    element.screenshot(path=str(path))
                else:
                    # Streamlit scrolls inside its own container, so a "full page" is a taller window.
                    page.set_viewport_size({"width": WIDTH, "height": TALL if full else HEIGHT})
                    page.wait_for_timeout(1500 if full else 0)
                    page.screenshot(path=str(path))
                    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
                shots.append(path)

            shot("cohort")
            # Tabs go by the labels the demo's cohort.toml declares; the files keep the modalities' names.
            for tab, label in (("sleep", "Home sleep test"), ("fundus_left", "Left eye photograph")):
                page.get_by_role("tab", name=re.compile(label)).first.click()
                page.wait_for_timeout(2500)
                panel = page.locator('[role="tabpanel"]:visible').first
                shot(f"cohort-{tab}", element=panel)
            _open(page, "Latent graph")
            shot("graph", full=True)
            _open(page, "Traversal")
            shot("traversal", full=True)
            _open(page, "Evaluate")
            shot("evaluate", full=True)
            _open(page, "Train")
            shot("train")
            _open(page, "Model")
            shot("model")
            shots += _projector_shots(browser, url, args.out)
            browser.close()
    for path in shots:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
