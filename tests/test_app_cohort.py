"""The Cohort page through Streamlit's AppTest: every way to pick data, its report, previews and refusals."""

import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from crl.data.synthetic import write_preset

N = 30
IDS = [f"P{i:03d}" for i in range(N)]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CRL_CACHE", str(tmp_path / "cache"))


def _app() -> AppTest:
    return AppTest.from_file("../app.py", default_timeout=60)


def _cohort_page() -> AppTest:
    """The app run once (it opens on the Overview), then its Cohort page."""
    at = _app().run()
    return at.switch_page("pages/cohort.py").run()


def _plain(text: str) -> str:
    """Markdown as the reader sees it: the page escapes user text with backslashes."""
    return text.replace("\\", "")


def _texts(elements) -> list[str]:
    return [_plain(e.value) for e in elements]


def _charts(at: AppTest) -> dict[str, dict]:
    import json

    return {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def _array(value) -> np.ndarray:
    """A plotly JSON array: a list, or a typed array {"dtype", "bdata"} (base64)."""
    import base64

    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value, dtype=float)


def _pick(at: AppTest, source: str) -> AppTest:
    return at.radio(key="cohort_source_widget").set_value(source).run()


def _open_folder(at: AppTest, folder) -> AppTest:
    _pick(at, "Folder on this server")
    at.text_input(key="cohort_folder_path").set_value(str(folder)).run()
    return at.button(key="cohort_folder_open").click().run()


def test_opens_on_a_trainable_demo_cohort():
    at = _cohort_page()
    assert not at.exception
    assert any("can be trained on" in s for s in _texts(at.success))
    assert [m.label for m in at.metric][:2] == ["Subjects used", "Modalities"]
    assert int(at.metric[0].value.replace(",", "")) >= 20
    labels = [t.label for t in at.tabs]
    assert labels[0] == "Who has what" and labels[-1] == "Covariates"
    assert len(labels) >= 4  # overview, at least two modalities, covariates


def test_synthetic_preset_is_generated_and_selected():
    at = _pick(_cohort_page(), "Synthetic preset")
    at.selectbox(key="cohort_preset").set_value("timeseries").run()
    at.number_input(key="cohort_preset_n_timeseries").set_value(60).run()
    at.number_input(key="cohort_preset_seed").set_value(3).run()
    at.button(key="cohort_preset_generate").click().run()
    assert not at.exception
    assert at.session_state["cohort_dir"].endswith("timeseries-n60-seed3")
    assert any("timeseries" in s and "60 subjects" in s for s in _texts(at.success))
    figures = [f for key, f in _charts(at).items() if "cohort_timeseries" in key]
    assert figures, "the time-series modality gets a preview plot"
    subjects = {t["name"] for t in figures[0]["data"]}
    assert len(subjects) == 5  # a few subjects, not all 60


def test_folder_with_every_kind_shows_each_preview(tmp_path):
    folder = write_preset("demo", tmp_path / "demo", n=60, seed=0)
    at = _open_folder(_cohort_page(), folder)
    assert not at.exception
    assert at.session_state["cohort_dir"] == str(folder)
    assert any("can be trained on" in s for s in _texts(at.success))
    charts = _charts(at)
    assert any("cohort_images_fundus_left" in key for key in charts)
    assert any("cohort_timeseries_sleep" in key for key in charts)
    overlap = next(f for key, f in charts.items() if "cohort_overlap" in key)
    bars = overlap["data"][0]
    complete = [y for y, text in zip(bars["y"], bars["customdata"], strict=True) if "every modality" in text]
    assert complete == [int(at.metric[0].value)]  # the blue bar is the subjects training uses
    assert sum(bars["y"]) > complete[0]  # the demo leaves some subjects without every modality
    covariates = [d.value for d in at.dataframe if "covariate" in d.value.columns]
    assert covariates and "age" in covariates[0]["covariate"].tolist()
    # The choice survives a rerun and a trip to another page.
    at.switch_page("pages/model.py").run()
    at.switch_page("pages/cohort.py").run()
    assert at.session_state["cohort_dir"] == str(folder)
    assert at.radio(key="cohort_source_widget").value == "Folder on this server"


def test_declared_labels_name_modalities_channels_covariates_and_the_time_axis(tmp_path):
    """The demo's cohort.toml labels everything and spaces the sleep test 10 minutes apart: the page reads
    "Home sleep test", "Heart rate (bpm)" and hours, not `sleep`, `heart_rate` and sample numbers."""
    folder = write_preset("demo", tmp_path / "demo", n=40, seed=0)
    at = _open_folder(_cohort_page(), folder)
    assert not at.exception
    tabs = [t.label for t in at.tabs]
    assert tabs[1:4] == [
        "Home sleep test · time series",
        "Left eye photograph · images",
        "Right eye photograph · images",
    ]
    series = next(f for key, f in _charts(at).items() if "cohort_timeseries_sleep" in key)
    titles = [a["text"] for a in series["layout"]["annotations"]]
    assert "Heart rate (bpm)" in titles and "heart_rate" not in titles
    assert ">Home sleep test: " in series["layout"]["title"]["text"]  # inside the normal-weight span
    # Axes carry a title font each (the chart theme's sizes), a title text only where one is drawn.
    xaxis = [v for k, v in series["layout"].items() if k.startswith("xaxis") and "text" in v.get("title", {})]
    assert [x["title"]["text"] for x in xaxis] == ["Time (h)"]
    hours = _array(series["data"][0]["x"])
    assert len(hours) == 144 and hours[0] == 0.0 and abs(hours[-1] - 143 / 6) < 1e-9  # 144 epochs of 10 min
    modalities = next(d.value for d in at.dataframe if "each subject has" in d.value.columns)
    assert (
        modalities["modality"].tolist()[0] == "Home sleep test" and modalities["name in files"][0] == "sleep"
    )
    covariates = next(d.value for d in at.dataframe if "covariate" in d.value.columns)
    shown = dict(zip(covariates["covariate"], covariates["label"], strict=True))
    assert shown["systolic_bp"] == "Systolic blood pressure (mmHg)" and shown["age"] == "Age (years)"


def test_broken_folder_lists_problems_with_fixes_and_no_traceback(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "cohort.toml").write_text(
        'name = "x"\nid = "subject_id"\n[modalities.labs]\nkind = "tabular"\npath = "nope.csv"\n'
    )
    at = _open_folder(_cohort_page(), folder)
    assert not at.exception
    errors = _texts(at.error)
    assert any("cannot be trained on" in e for e in errors)
    detail = next(e for e in errors if "nope.csv" in e)
    assert "How to fix:" in detail and "cohort.toml" in detail
    assert any("once the errors above are fixed" in i for i in _texts(at.info))


def test_missing_folder_is_an_error_not_a_crash(tmp_path):
    at = _open_folder(_cohort_page(), tmp_path / "does-not-exist")
    assert not at.exception
    assert any("does not exist" in e for e in _texts(at.error))


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _labs(id_column: str = "patient_id") -> bytes:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(N, 3)), columns=["hba1c", "ldl", "crp"])
    frame.insert(0, id_column, IDS)
    frame.loc[3, "ldl"] = np.nan  # one subject with a missing value
    return _csv(frame)


def _sleep() -> bytes:
    rng = np.random.default_rng(1)
    steps = 8
    frame = pd.DataFrame(
        {
            "subject": np.repeat(IDS, steps),
            "hour": np.tile(np.arange(steps), N),
            "spo2": rng.normal(95, 1, size=N * steps),
        }
    )
    return _csv(frame)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _png(value: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _upload(at: AppTest, files, covariates=None) -> AppTest:
    _pick(at, "Upload files")
    at.file_uploader(key="upload_files").set_value(files).run()
    if covariates is not None:
        at.file_uploader(key="upload_covariates").set_value(covariates).run()
    return at


def test_upload_creates_and_selects_a_cohort():
    images = _zip({f"eyes/{s}.png": _png(7 * k) for k, s in enumerate(IDS)})
    clinical = pd.DataFrame({"patient_id": IDS, "age": np.arange(N) + 40.0, "sex": ["F", "M"] * (N // 2)})
    at = _upload(
        _cohort_page(),
        [
            ("labs.csv", _labs(), "text/csv"),
            ("sleep.csv", _sleep(), "text/csv"),
            ("Fundus Left.zip", images, "application/zip"),
        ],
        covariates=("clinical.csv", _csv(clinical), "text/csv"),
    )
    assert not at.exception
    names = [t.value for t in at.text_input if t.key.endswith("_name") and t.key != "upload_cohort_name"]
    assert names == ["labs", "sleep", "fundus_left"]
    kinds = [s.value for s in at.selectbox if s.key and s.key.endswith("_kind")]
    assert kinds == ["tabular", "timeseries", "image"]
    times = [s.value for s in at.selectbox if s.key and s.key.endswith("_time")]
    assert times == ["hour"]
    nan_policy = next(s for s in at.selectbox if s.key.endswith("_nan"))
    assert nan_policy.value == "error"
    nan_policy.set_value("drop").run()
    at.text_input(key="upload_cohort_name").set_value("Eye *study* <b>2024</b>").run()
    at.button(key="upload_create").click().run()
    assert not at.exception
    assert at.session_state["cohort_dir"].endswith("uploads/eye-study-b-2024-b")
    success = [s.value for s in at.success if "can be trained on" in s.value]
    assert success, [e.value for e in at.error]
    # The typed name is shown literally: no bold, no HTML.
    assert "\\*study\\*" in success[0] and "\\<b\\>" in success[0]
    assert f"{N - 1} subjects" in _plain(success[0])  # the subject with a missing value is left out
    labels = [t.label for t in at.tabs]
    # Tabs name modalities in words (no label declared: "fundus_left" reads "Fundus left").
    assert "Fundus left · images" in labels and labels[-1] == "Covariates"


def test_upload_without_an_id_column_names_the_problem():
    no_id = pd.DataFrame({"age": [40, 50, 60], "bmi": [20.0, 25.0, 30.0]})
    at = _upload(_cohort_page(), [("measures.csv", _csv(no_id), "text/csv")])
    assert at.selectbox(key=next(s.key for s in at.selectbox if s.key.endswith("_id"))).value is None
    at.button(key="upload_create").click().run()
    assert not at.exception
    assert any(
        "measures.csv: choose which column holds the subject IDs (its columns: age, bmi)" in e
        for e in _texts(at.error)
    )
    assert any("No column looks like a subject ID" in w for w in _texts(at.warning))
    assert not at.session_state["cohort_dir"].endswith("my-cohort")


def test_zip_with_path_traversal_is_refused(tmp_path):
    evil = _zip({"P000.png": _png(1), "../evil.png": _png(2)})
    at = _upload(_cohort_page(), [("eyes.zip", evil, "application/zip")])
    assert not at.exception
    assert any("refused" in e and "'../evil.png'" in e for e in _texts(at.error))
    assert at.button(key="upload_create").disabled
    assert not list((tmp_path / "cache").rglob("evil.png"))


def _bad_crc(data: bytes) -> bytes:
    """The zip with its first entry's checksum changed (local header and central directory alike)."""
    import struct

    patched = bytearray(data)
    struct.pack_into("<I", patched, patched.find(b"PK\x03\x04") + 14, 0xDEADBEEF)
    struct.pack_into("<I", patched, patched.find(b"PK\x01\x02") + 16, 0xDEADBEEF)
    return bytes(patched)


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("build", "expected"),
    [
        ("huge_images", "Fundus.zip: entry 'P000.png' is 8000x8000 pixels (width x height)"),
        ("bad_crc", "Fundus.zip: entry 'P000.png' is damaged (Bad CRC-32"),
    ],
)
def test_hostile_zip_is_refused_after_create_cohort_with_a_message(tmp_path, build, expected):
    from cohort_factory import blank_png

    if build == "huge_images":  # 25 images of 64 MB each once decoded, a few KB zipped
        images = _zip({f"{s}.png": blank_png(8000, 8000) for s in IDS[:25]})
    else:
        images = _bad_crc(_zip({f"{s}.png": _png(7 * k) for k, s in enumerate(IDS)}))
    at = _upload(
        _cohort_page(), [("labs.csv", _labs(), "text/csv"), ("Fundus.zip", images, "application/zip")]
    )
    at.text_input(key="upload_cohort_name").set_value("hostile").run()
    at.button(key="upload_create").click().run()
    assert not at.exception
    assert any(expected in e for e in _texts(at.error)), _texts(at.error)
    assert not at.session_state["cohort_dir"].endswith("hostile")
    assert not (tmp_path / "cache" / "uploads" / "hostile").exists()
