"""Fixtures shared across the test modules (pytest finds them by name; a module may define its own instead)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from run_factory import tiny_training

from crl.cli import main as crl_main
from crl.data.synthetic import write_preset

# No background cache warming in tests (crl/ui/warmup.py): a thread loading files while a test patches or
# deletes them would make results depend on timing. Servers the browser tests start inherit this too.
os.environ.setdefault("CRL_WARMUP", "0")


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


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple:
    """(cohort, run): a really trained tiny run, one per test module that asks for it: paper case 1 (two
    tabular modalities), 3 epochs, one required link m1.z0 -> m2.z0."""
    root = tmp_path_factory.mktemp("traversal")
    cohort = write_preset("paper-case1", root / "case1", n=300)
    run = root / "runs" / "tiny"
    code = crl_main(
        [
            "train",
            str(cohort),
            "--out",
            str(run),
            "--device",
            "cpu",
            *tiny_training(
                "train.epochs=3",
                'graph.required=[["m1.z0", "m2.z0"]]',
                'graph.forbidden=[["m2.z0", "m1.z0"]]',  # a DAG cannot hold the reverse of a required link
                "graph.initial_strength=0.3",  # other links stay below the 0.5 threshold after 3 epochs
                # Without the order search, 3 epochs leave the order undecided, so weak links in both
                # directions close cycles at a low threshold (the page must warn, not fail).
                "graph.search_order=false",
            ),
        ]
    )
    assert code == 0
    return cohort, run
