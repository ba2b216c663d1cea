"""The server warms the shared caches in the background once the first page is drawn (crl/ui/warmup.py)."""

from __future__ import annotations

import pytest

from crl.ui import cache, run_cache, warmup


def test_warming_fills_the_caches_the_pages_read(trained, monkeypatch):
    cohort, run = trained
    cache._load.clear()
    assert warmup.warm(cohort, run) == []

    def refuse(*_args, **_kwargs):
        raise AssertionError("loaded again: the warm-up did not fill this cache")

    monkeypatch.setattr("crl.ui.cache.load_cohort", refuse)
    monkeypatch.setattr("crl.analysis.stored_evaluation.score", refuse)
    assert cache.validation(cohort).ok  # the Cohort page's check, from the cache
    run_cache.evaluation(run, cohort, run_cache.recorded_threshold(run))  # stored when training ended
    assert run_cache.graph(run).names


def test_a_failing_step_is_reported_and_the_others_still_run(trained, tmp_path):
    cohort, _ = trained
    missing_run = tmp_path / "no-such-run"
    failed = warmup.warm(cohort, missing_run)
    assert "graph" in failed and "cohort" not in failed


def test_it_runs_once_per_cohort_and_run_and_can_be_switched_off(trained, monkeypatch):
    cohort, run = trained
    monkeypatch.setattr(warmup, "_WARMED", set())
    monkeypatch.setenv("CRL_WARMUP", "0")
    assert warmup.start(cohort, run) is None
    monkeypatch.setenv("CRL_WARMUP", "1")
    monkeypatch.setattr(warmup, "warm", lambda *_: [])
    thread = warmup.start(cohort, run)
    assert thread is not None
    thread.join(10)
    assert warmup.start(cohort, run) is None  # already warmed in this process
    assert warmup.start(None, run) is None


@pytest.mark.parametrize("value", ["0", "false", "off"])
def test_the_switch_reads_common_spellings(monkeypatch, value):
    monkeypatch.setenv("CRL_WARMUP", value)
    assert not warmup.enabled()
