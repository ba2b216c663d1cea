"""Refit on the Train page in a real browser, right after training: the page follows the new job on its own
timer to "Refit … done" and never says "Interrupted" (it did: the refit's status kept the finished job's dead
pid, and the panel polled only when its job was alive at the first draw)."""

import re

import pytest
from dashboard import wait_for_app

pytestmark = pytest.mark.browser


def _go(page, title):
    page.get_by_role("link", name=title).first.click()
    page.wait_for_timeout(500)
    wait_for_app(page)


def _fill(page, label, value):
    # A rerun keeps the previous run's widget on screen until it finishes: wait for the one that stays.
    page.wait_for_function(
        "(label) => document.querySelectorAll(`input[aria-label='${label}']`).length === 1",
        arg=label,
        timeout=60_000,
    )
    box = page.get_by_label(label, exact=True).first
    box.fill(str(value))
    box.press("Enter")
    wait_for_app(page)


def _progress_text(page) -> str:
    bar = page.locator('[data-testid="stProgress"]').first
    return bar.inner_text() if bar.count() else ""


def test_refit_right_after_training_is_followed_to_the_end(app_url, page, screenshot_dir):
    page.goto(f"{app_url}/cohort")  # the app opens on the Overview
    wait_for_app(page)
    page.get_by_text("Synthetic preset").click()
    wait_for_app(page)
    page.get_by_role("combobox", name="Preset").first.click()
    page.get_by_role("option", name="paper-case1", exact=True).click()
    wait_for_app(page)
    _fill(page, "Subjects", 200)
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("(200 subjects").first.wait_for(timeout=120_000)

    _go(page, "Model")
    _fill(page, "Epochs", 20)
    _fill(page, "Batch size", 32)
    page.get_by_text("Advanced settings").click()  # exactly the epochs asked for: no minimum step count
    _fill(page, "Minimum steps", 0)
    _go(page, "Train")
    page.get_by_text("20 epochs of 5, batch 32").wait_for(timeout=60_000)
    _fill(page, "Run name (optional)", "refit-in-browser")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(re.compile("^Finished after")).first.wait_for(timeout=300_000)
    wait_for_app(page)

    _fill(page, "Sparsity weights", "0.5")
    _fill(page, "Epochs each", 40)
    page.get_by_role("button", name="Refit").click()
    # From here on nothing is clicked: the panel's timer alone must carry the page to the refit's end.
    seen = []
    for _ in range(240):
        text = _progress_text(page)
        seen.append(text)
        assert "Interrupted" not in text, seen
        if re.match(r"Refit at sparsity 0\.5 done in", text):
            break
        page.wait_for_timeout(500)
    else:
        pytest.fail(f"the page never showed the refit as done; it showed {sorted(set(seen))}")
    wait_for_app(page)
    page.get_by_text("The refit of refit-in-browser is done").wait_for(timeout=30_000)
    text = _progress_text(page)
    assert "Finished after" in text and "Interrupted" not in text
    assert page.get_by_text("20 / 20").first.is_visible()  # the training's epochs, not the refit's 40
    levels = page.locator('[data-testid="stDataFrame"]').first
    levels.wait_for(timeout=30_000)
    # The next tweak starts from this refit's settings, not from the defaults again.
    assert page.get_by_label("Sparsity weights", exact=True).first.input_value() == "0.5"
    assert page.get_by_label("Epochs each", exact=True).first.input_value() == "40"
    assert page.locator("text=Traceback").count() == 0
    page.screenshot(path=str(screenshot_dir / "train-refit.png"))
