"""A bookmarked page on a server nobody has opened yet still gets the app's navigation and sidebar."""

from __future__ import annotations

from urllib.parse import urlparse


def test_a_deep_link_on_a_fresh_server_lands_on_its_page_inside_the_app(page, fresh_app_url):
    page.goto(f"{fresh_app_url}/graph?threshold=0.7")
    page.get_by_role("heading", name="Latent graph").wait_for(timeout=60_000)
    nav = page.get_by_test_id("stSidebarNav")
    # The router's titles, not the legacy file names ("graph", "app") Streamlit shows without it.
    assert nav.get_by_text("Latent graph").is_visible()
    assert nav.get_by_text("app", exact=True).count() == 0
    assert urlparse(page.url).path.endswith("/graph")
    # The link's settings survive the detour through app.py's router (crl.ui.routing, crl.ui.url_state).
    for _ in range(60):
        if "threshold=0.7" in page.url:
            break
        page.wait_for_timeout(500)
    assert "threshold=0.7" in page.url
    assert page.get_by_text("Current cohort").is_visible()
