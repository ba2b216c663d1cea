"""Fixtures shared across the test modules (pytest finds them by name; a module may define its own instead)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    """An empty runs folder and cache for an AppTest page test; the shipped demo run is hidden, so the page
    lists only the runs the test makes. (test_app_train.py defines its own, with a job queue.)"""
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("CRL_RUNS", str(root))
    monkeypatch.setenv("CRL_CACHE", str(tmp_path / "cache"))
    from crl.ui import demo

    monkeypatch.setattr(demo, "demo_run_dir", lambda: None)
    return root


@pytest.fixture(autouse=True)
def _own_dashboard_cache(tmp_path, monkeypatch):
    """Every test gets its own dashboard cache (uploads, generated presets, Model-page settings saved per
    cohort), so nothing one test leaves there reaches another."""
    monkeypatch.setenv("CRL_CACHE", str(tmp_path / "crl-cache"))
