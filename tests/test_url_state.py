"""The URL carries the current cohort, run and graph settings: a reload or a shared link opens the same view."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from crl.data.synthetic import write_preset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_fixtures import APP  # noqa: E402
from run_factory import fake_run  # noqa: E402


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_preset("paper-case1", tmp_path_factory.mktemp("cohort") / "case1", n=200, seed=0)


def _open(query: dict[str, str]) -> AppTest:
    """A new browser session on the Latent graph page with `query` in its URL."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query)
    at.run()
    at.switch_page("pages/graph.py").run()
    assert not at.exception, at.exception
    return at


def _param(at: AppTest, name: str) -> str | None:
    value = at.query_params.get(name)
    return value[-1] if isinstance(value, list) else value


def _run_picker(at: AppTest):
    return next(s for s in at.selectbox if s.label == "Trained model")


def test_a_link_opens_its_cohort_run_and_threshold_and_the_url_follows_the_view(runs, cohort):
    fake_run(runs / "alpha", cohort)
    fake_run(runs / "beta", cohort)
    at = _open({"cohort": str(cohort), "run": "alpha", "threshold": "0.8"})
    assert Path(_run_picker(at).value).name == "alpha"
    slider = next(s for s in at.slider if s.label == "Link strength threshold")
    assert slider.value == pytest.approx(0.8)
    assert _param(at, "run") == "alpha" and _param(at, "cohort") == str(cohort)
    assert _param(at, "threshold") == "0.8"
    slider.set_value(0.6).run()
    assert _param(at, "threshold") == "0.6"


def test_names_that_no_longer_exist_open_the_defaults_without_an_error(runs, cohort):
    fake_run(runs / "alpha", cohort)
    at = _open({"cohort": "/nowhere", "run": "gone", "threshold": "lots"})
    assert not at.error
    slider = next(s for s in at.slider if s.label == "Link strength threshold")
    assert slider.value == pytest.approx(0.5)  # the run's own threshold
    assert _param(at, "cohort") == "demo" and _param(at, "run") != "gone"
