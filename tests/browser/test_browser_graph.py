"""The Latent graph and Evaluate pages in a real browser: the network draws, the slider redraws it, screenshots."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from dashboard import wait_for_app

from crl.data.synthetic import write_preset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from run_factory import fake_run  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def runs_folder(app_url, tmp_path_factory) -> Path:
    """A finished run (demo cohort, sparsity path) written into the folder the app_url server lists runs from."""
    candidates = sorted(tmp_path_factory.getbasetemp().glob("runs*"))
    assert candidates, "the app_url fixture no longer makes a runs folder; update tests/browser/test_graph.py"
    runs = candidates[0]
    cohort = write_preset("demo", tmp_path_factory.mktemp("graph-cohort") / "demo", n=300, seed=1)
    if not (runs / "demo-run").exists():
        fake_run(runs / "demo-run", cohort, drop_edges=1, extra_edges=2, sparsity_path=True)
    return runs


def _open(page, app_url, title):
    """Through the app's own navigation: a deep link as a fresh server's first request skips app.py."""
    page.goto(app_url)
    wait_for_app(page)
    page.get_by_role("link", name=title).first.click()
    page.wait_for_timeout(500)
    wait_for_app(page)


def _network_canvas(page):
    frame = page.frame_locator("iframe").first
    canvas = frame.locator("#mynetwork canvas")
    canvas.wait_for(timeout=60_000)
    return frame, canvas


def test_graph_page_draws_and_redraws_on_the_slider(app_url, runs_folder, page, screenshot_dir):
    _open(page, app_url, "Latent graph")
    frame, canvas = _network_canvas(page)
    box = canvas.bounding_box()
    assert box and box["width"] > 400 and box["height"] > 300
    legend = frame.locator(".crl-legend .hint")
    before = legend.inner_text()
    page.screenshot(path=str(screenshot_dir / "graph.png"))

    slider = page.get_by_role("slider").first
    slider.focus()
    for _ in range(38):  # 0.50 -> 0.12: the weak links (below 0.3) appear
        page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(600)
    wait_for_app(page)
    frame, canvas = _network_canvas(page)
    frame.locator(".crl-legend .hint").wait_for(timeout=30_000)
    page.wait_for_function(
        "(before) => { const f = document.querySelector('iframe');"
        " const hint = f && f.contentDocument && f.contentDocument.querySelector('.crl-legend .hint');"
        " return hint && hint.innerText !== before; }",
        arg=before,
        timeout=30_000,
    )
    after = frame.locator(".crl-legend .hint").inner_text()
    assert after != before
    assert page.locator("text=Traceback").count() == 0
    page.screenshot(path=str(screenshot_dir / "graph-threshold.png"))


def test_graph_export_downloads_a_file(app_url, runs_folder, page):
    _open(page, app_url, "Latent graph")
    _network_canvas(page)
    page.get_by_role("tab", name="Export").click()
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="GraphML").click()
    download = info.value
    assert download.suggested_filename == "latent-graph.graphml"
    text = Path(download.path()).read_text()
    assert text.startswith("<?xml") and "<edge " in text


def test_evaluate_page_shows_metrics(app_url, runs_folder, page, screenshot_dir):
    _open(page, app_url, "Evaluate")
    page.get_by_text("MCC").first.wait_for(timeout=120_000)
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=60_000)
    page.locator('[data-testid="stDataFrame"] canvas').first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # the data grids paint after their canvas appears
    assert page.locator("text=Traceback").count() == 0
    page.screenshot(path=str(screenshot_dir / "evaluate.png"))


def _wait_for_url(page, part: str) -> None:
    for _ in range(120):  # the URL follows the view (crl.ui.url_state)
        if part in page.url:
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"{part} never reached the URL: {page.url}")


def test_a_reload_keeps_the_picked_run_and_threshold(app_url, runs_folder, page):
    _open(page, app_url, "Latent graph")
    _network_canvas(page)
    page.get_by_test_id("stSelectbox").filter(has_text="Trained model").click()
    page.get_by_role("option", name="demo-run").click()
    _wait_for_url(page, "run=demo-run")
    wait_for_app(page)
    _network_canvas(page)
    page.wait_for_timeout(1000)
    slider = page.get_by_role("slider").first
    slider.focus()
    for _ in range(10):  # 0.50 -> 0.60
        page.keyboard.press("ArrowRight")
    _wait_for_url(page, "threshold=0.6")

    page.reload()
    wait_for_app(page)
    _network_canvas(page)
    picker = page.get_by_test_id("stSelectbox").filter(has_text="Trained model")
    assert picker.locator("input").input_value() == "demo-run"
    assert page.get_by_test_id("stSlider").first.get_by_text("0.60").count() == 1
