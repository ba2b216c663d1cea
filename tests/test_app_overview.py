"""The Overview page, the app's first screen: the graph, the story with its verdict, what to open next."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from crl.data.synthetic import write_preset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_fixtures import APP, open_page  # noqa: E402
from run_factory import fake_run  # noqa: E402


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_preset("paper-case1", tmp_path_factory.mktemp("cohort") / "case1", n=200, seed=0)


def test_the_app_opens_on_the_overview_with_graph_story_and_links(runs, cohort):
    fake_run(runs / "alpha", cohort, drop_edges=1)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception and not at.error
    assert any(m.value == "### Overview" for m in at.markdown)
    assert len(at.get("iframe")) == 1  # the graph
    story = " ".join(m.value for m in at.markdown)
    assert "hidden variables" in story and "Against the known truth:" in story and "recovered" in story
    assert len(at.get("page_link")) == 4


def test_without_a_model_it_says_what_to_do(runs):
    at = open_page("pages/overview.py")
    assert not at.exception
    assert any("no model has been trained yet" in box.value for box in at.info)
