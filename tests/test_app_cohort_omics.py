"""The Cohort page on a cohort of AnnData/MuData files: previews like any table, and without the omics extra a
message naming what to install instead of a traceback."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("h5py")  # the omics extra; CI installs it (make install-test)

from omics_factory import PROTEINS, make_omics_cohort  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CRL_CACHE", str(tmp_path / "cache"))


def _open_folder(folder) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    at = at.switch_page("pages/cohort.py").run()
    at.radio(key="cohort_source_widget").set_value("Folder on this server").run()
    at.text_input(key="cohort_folder_path").set_value(str(folder)).run()
    return at.button(key="cohort_folder_open").click().run()


def _texts(elements) -> list[str]:
    return [e.value.replace("\\", "") for e in elements]


def test_an_omics_cohort_opens_with_a_preview_of_each_modality(tmp_path):
    at = _open_folder(make_omics_cohort(tmp_path, n=40))
    assert not at.exception
    assert any("can be trained on" in s for s in _texts(at.success))
    assert int(at.metric[0].value) == 40
    heads = [d.value for d in at.dataframe if "subject_id" in d.value.columns]
    assert any(head.columns.tolist() == ["subject_id", *PROTEINS] for head in heads)


def test_without_the_extra_the_page_says_which_to_install(tmp_path, monkeypatch):
    folder = make_omics_cohort(tmp_path, n=40)
    monkeypatch.setitem(sys.modules, "h5py", None)  # `import h5py` now raises ImportError
    at = _open_folder(folder)
    assert not at.exception
    errors = _texts(at.error)
    assert any("cannot be trained on" in e for e in errors)
    detail = next(e for e in errors if "blood.h5ad" in e)
    assert "needs the optional package h5py" in detail and "pip install 'crl[omics]'" in detail
