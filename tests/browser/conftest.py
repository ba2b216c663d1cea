"""A real dashboard server and a headless Debian chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dashboard import serve

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _serve(tmp_path_factory):
    """A dashboard server with its own cache, runs folder and job queue (browser-test jobs never wait behind
    other jobs on this machine); stopped afterwards."""
    env = {
        "CRL_CACHE": str(tmp_path_factory.mktemp("crl-cache")),
        "CRL_RUNS": str(tmp_path_factory.mktemp("runs")),
        "CRL_QUEUE_DIR": str(tmp_path_factory.mktemp("queue")),
    }
    with open(tmp_path_factory.mktemp("server") / "streamlit.log", "w") as log:
        try:
            with serve(env, log) as url:
                yield url
        except RuntimeError as error:
            pytest.fail(f"{error}; see {log.name}")


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """One dashboard server shared by the browser tests."""
    yield from _serve(tmp_path_factory)


@pytest.fixture
def fresh_app_url(tmp_path_factory):
    """A dashboard server no page has been opened on yet (its router has never run)."""
    yield from _serve(tmp_path_factory)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: run scripts/ensure_chromium.sh (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    """Where page screenshots go: $CRL_SCREENSHOTS to keep them, else a temporary folder."""
    target = os.environ.get("CRL_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
