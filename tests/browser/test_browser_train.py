"""Model and Train pages in a real browser: pick a small cohort, set a short training, check it, start it, and
watch the live panel (a fragment on a timer, no clicks) carry the progress bar to the end."""

import re

import pytest
from dashboard import wait_for_app

pytestmark = pytest.mark.browser


def _go(page, title):
    page.get_by_role("link", name=title).first.click()
    page.wait_for_timeout(500)
    wait_for_app(page)


def _number(page, label, value):
    boxes = page.get_by_label(label, exact=True)
    # A rerun keeps the previous run's widget on screen until it finishes: wait for the one that stays.
    page.wait_for_function(
        "(label) => document.querySelectorAll(`input[aria-label='${label}']`).length === 1",
        arg=label,
        timeout=60_000,
    )
    box = boxes.first
    box.fill(str(value))
    box.press("Enter")
    wait_for_app(page)


def test_configure_check_and_train_a_small_cohort(app_url, page, screenshot_dir):
    page.goto(f"{app_url}/cohort")  # the app opens on the Overview
    wait_for_app(page)
    page.get_by_text("Synthetic preset").click()
    wait_for_app(page)
    page.get_by_role("combobox", name="Preset").first.click()
    page.get_by_role("option", name="paper-case1", exact=True).click()
    wait_for_app(page)
    _number(page, "Subjects", 200)
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("(200 subjects").first.wait_for(timeout=120_000)

    _go(page, "Model")
    _number(page, "Epochs", 300)
    _number(page, "Batch size", 32)
    page.get_by_text("Advanced settings").click()  # exactly the epochs asked for: no minimum step count
    _number(page, "Minimum steps", 0)
    page.get_by_role("button", name="Check these settings").click()
    page.get_by_text("ran without errors").wait_for(timeout=120_000)
    wait_for_app(page)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # the table draws on a canvas after it arrives
    assert page.locator("text=Traceback").count() == 0
    page.screenshot(path=str(screenshot_dir / "model.png"))

    _go(page, "Train")
    page.get_by_text("300 epochs of 5, batch 32").wait_for(timeout=60_000)
    page.get_by_role("button", name="Start training").click()
    progress = page.locator('[data-testid="stProgress"]').first
    # From here on nothing is clicked: the fragment's timer alone must move the page along.
    page.get_by_text(re.compile(r"Training on cpu: epoch [1-9]\d+ of 300")).first.wait_for(timeout=180_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(screenshot_dir / "train-running.png"))
    page.get_by_text(re.compile("^Finished after")).first.wait_for(timeout=300_000)
    wait_for_app(page)
    # The status line and the bar come from one status, but the bar may be drawn by the fragment's next tick.
    for _ in range(60):
        if progress.get_by_role("progressbar").get_attribute("aria-valuenow") == "100":
            break
        page.wait_for_timeout(500)
    assert progress.get_by_role("progressbar").get_attribute("aria-valuenow") == "100"
    assert page.get_by_text("Epoch").first.is_visible()
    page.get_by_text("This is the current model").wait_for(timeout=30_000)
    # The finished run (named after the cohort folder) is the current model in the sidebar.
    assert "paper-case1-n200-seed0-" in page.locator('[data-testid="stSidebar"]').inner_text()
    page.wait_for_timeout(1500)
    assert page.locator("text=Traceback").count() == 0
    page.screenshot(path=str(screenshot_dir / "train.png"))
