"""The Cohort page through Streamlit's AppTest: the demo opens valid, a broken folder shows its problems."""

import pytest
from streamlit.testing.v1 import AppTest


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CRL_CACHE", str(tmp_path / "cache"))


def _app() -> AppTest:
    return AppTest.from_file("../app.py", default_timeout=60)


def test_opens_on_a_trainable_demo_cohort():
    at = _app().run()
    assert not at.exception
    assert any("can be trained on" in s.value for s in at.success)


def test_broken_folder_lists_problems_without_traceback(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "cohort.toml").write_text('name = "x"\nid = "subject_id"\n[modalities.labs]\nkind = "tabular"\npath = "nope.csv"\n')
    at = _app().run()
    at.radio[0].set_value("Folder on this server").run()
    at.text_input[0].set_value(str(folder)).run()
    at.button[0].click().run()
    assert not at.exception
    assert any("cannot be trained on" in e.value for e in at.error)
    table = at.dataframe[0].value
    assert table["problem"].str.contains("nope.csv").any()
