"""A real dashboard server and a headless Debian chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path_factory):
    """Starts `streamlit run app.py` on a free loopback port with its own cache folder; stops it afterwards."""
    port = _free_port()
    env = dict(
        os.environ,
        CRL_CACHE=str(tmp_path_factory.mktemp("crl-cache")),
        CRL_RUNS=str(tmp_path_factory.mktemp("runs")),
        # A private job queue: browser-test jobs never wait behind other jobs on this machine.
        CRL_QUEUE_DIR=str(tmp_path_factory.mktemp("queue")),
    )
    log = open(tmp_path_factory.mktemp("server") / "streamlit.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        server.kill()
        pytest.fail(f"the dashboard did not start within 60 s; see {log.name}")
    yield url
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


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
