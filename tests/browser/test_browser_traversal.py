"""The Traversal page in a real browser: opened through the navigation, the value slider redraws, screenshots."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from dashboard import wait_for_app

from crl.cli import main as crl_main
from crl.data.synthetic import write_preset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from run_factory import tiny_training  # noqa: E402

pytestmark = pytest.mark.browser
RUN = "traversal-demo"


@pytest.fixture(scope="module")
def trained_run(app_url, tmp_path_factory) -> Path:
    """A briefly trained model on a small demo cohort (sleep signals and both fundus photos) in the app's runs,
    with one required link, sleep.z0 -> fundus_left.z0, so an intervention on sleep reaches the left eye."""
    candidates = sorted(tmp_path_factory.getbasetemp().glob("runs*"))
    assert candidates, (
        "the app_url fixture no longer makes a runs folder; update tests/browser/test_traversal.py"
    )
    run = candidates[0] / RUN
    if not (run / "model.pt").exists():
        cohort = write_preset("demo", tmp_path_factory.mktemp("traversal-cohort") / "demo", n=100, seed=0)
        settings = tiny_training(
            "train.epochs=2",
            "train.batch_size=32",
            'graph.required=[["sleep.z0", "fundus_left.z0"]]',
            'graph.forbidden=[["fundus_left.z0", "sleep.z0"]]',
            "graph.initial_strength=0.3",
        )
        assert crl_main(["train", str(cohort), "--out", str(run), "--device", "cpu", *settings]) == 0
    return run


def _open(page, app_url, title):
    """Through the app's own navigation: a deep link as a fresh server's first request skips app.py."""
    page.goto(app_url)
    wait_for_app(page, timeout_ms=180_000)
    # The app's own navigation (not the file list Streamlit shows before app.py has run) names this page.
    page.get_by_role("link", name="Latent graph", exact=True).wait_for(timeout=120_000)
    page.get_by_role("link", name=title, exact=True).click()
    page.wait_for_timeout(500)
    wait_for_app(page, timeout_ms=180_000)


def _pick_run(page):
    picker = page.get_by_test_id("stSelectbox").filter(has_text="Trained model")
    if RUN in picker.inner_text():
        return
    picker.click()
    page.get_by_role("option", name=RUN).click()
    page.wait_for_timeout(500)
    wait_for_app(page, timeout_ms=180_000)


def _charts(page, count):
    page.wait_for_function(
        f"() => document.querySelectorAll('.js-plotly-plot').length >= {count}", timeout=120_000
    )


def test_traversal_page_moves_the_value_and_intervenes(app_url, trained_run, page, screenshot_dir):
    _open(page, app_url, "Traversal")
    _pick_run(page)
    _charts(page, 1)  # the moved latent's own modality
    assert page.locator("text=Traceback").count() == 0
    caption = page.get_by_text("Current value", exact=False).last.inner_text()
    page.screenshot(path=str(screenshot_dir / "traversal.png"))

    slider = page.get_by_role("slider").first  # "Current value"
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_timeout(800)
    wait_for_app(page, timeout_ms=180_000)
    page.wait_for_function(
        "(before) => [...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
        ".some(c => c.innerText.includes('Current value') && c.innerText !== before)",
        arg=caption,
        timeout=30_000,
    )
    assert page.locator("text=Traceback").count() == 0
    page.screenshot(path=str(screenshot_dir / "traversal-moved.png"))

    page.get_by_text("Intervene: effects follow the graph").click()
    page.wait_for_timeout(800)
    wait_for_app(page, timeout_ms=180_000)
    page.get_by_text("Across the range").wait_for(timeout=60_000)
    assert page.locator("text=Traceback").count() == 0
    # The required link carries do(sleep.z0 = v) to the left eye: before / after / difference images.
    _charts(page, 4)  # sleep and the left eye: what changed, then across the range
    page.screenshot(path=str(screenshot_dir / "traversal-intervention.png"))
    page.get_by_text("Across the range").scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshot_dir / "traversal-intervention-range.png"))
