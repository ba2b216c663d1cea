"""A bookmarked page on a server nobody has opened yet still gets the app's navigation and sidebar."""

from __future__ import annotations


def test_a_deep_link_on_a_fresh_server_lands_on_its_page_inside_the_app(page, fresh_app_url):
    page.goto(f"{fresh_app_url}/graph")
    page.get_by_role("heading", name="Latent graph").wait_for(timeout=60_000)
    nav = page.get_by_test_id("stSidebarNav")
    # The router's titles, not the legacy file names ("graph", "app") Streamlit shows without it.
    assert nav.get_by_text("Latent graph").is_visible()
    assert nav.get_by_text("app", exact=True).count() == 0
    assert page.url.endswith("/graph")
    assert page.get_by_text("Current cohort").is_visible()
