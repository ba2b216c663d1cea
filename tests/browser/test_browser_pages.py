"""Opens every dashboard page in a real browser, checks it drew, and saves a screenshot."""

import pytest
from dashboard import wait_for_app

pytestmark = pytest.mark.browser


def test_cohort_page_shows_demo_report(app_url, page, screenshot_dir):
    page.goto(f"{app_url}/cohort")  # the app opens on the Overview
    wait_for_app(page)
    page.get_by_text("can be trained on").first.wait_for(timeout=120_000)
    page.get_by_role("tab", name="Who has what").wait_for(timeout=120_000)  # the previews, after the loading
    wait_for_app(page)
    page.locator('[data-testid="stDataFrame"] canvas').first.wait_for(timeout=60_000)  # tables draw lazily
    assert page.locator("text=Traceback").count() == 0
    page.screenshot(path=str(screenshot_dir / "cohort.png"))
