"""Building a cohort from uploaded bytes: what the user chose is checked, zips are unpacked safely, writes are atomic."""

import dataclasses
import io
import re
import struct
import zipfile

import numpy as np
import pandas as pd
import pytest
from cohort_factory import blank_png
from PIL import Image

from crl.data import load_cohort, validate_cohort
from crl.data.manifest import tomllib
from crl.data.overlap import overlap_counts, source_subject_ids
from crl.data.summary import column_summary, covariate_summary
from crl.data.upload import (
    MAX_ZIP_MEMBERS,
    MB,
    CovariatesChoice,
    SourceChoice,
    Upload,
    UploadError,
    build_cohort,
    check_size,
    folder_name,
    inspect_upload,
    suggested_modality,
)

N = 30
IDS = [f"P{i:03d}" for i in range(N)]


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def labs_upload(id_column: str = "patient_id", ids=IDS) -> Upload:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(len(ids), 3)), columns=["hba1c", "ldl", "crp"])
    frame.insert(0, id_column, ids)
    return Upload("Labs 2024.csv", _csv(frame))


def sleep_upload(ids=IDS, steps: int = 6) -> Upload:
    """A long table: one row per subject and night, with the subject column called 'subject'."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "subject": np.repeat(ids, steps),
            "night_hour": np.tile(np.arange(steps), len(ids)),
            "spo2": rng.normal(95, 1, size=len(ids) * steps),
            "heart_rate": rng.normal(60, 5, size=len(ids) * steps),
        }
    )
    return Upload("sleep.csv", _csv(frame.sample(frac=1.0, random_state=0)))


def png_bytes(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((6, 6), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def image_zip(names, folder: str = "fundus/") -> Upload:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for k, name in enumerate(names):
            archive.writestr(f"{folder}{name}", png_bytes(10 * k % 255))
        archive.writestr("__MACOSX/._junk.png", b"not an image")
        archive.writestr(f"{folder}notes.txt", b"a note")
    return Upload("Fundus Left.zip", buffer.getvalue())


def test_inspect_suggests_kind_id_and_time():
    labs = inspect_upload(labs_upload())
    assert (labs.format, labs.kind, labs.id_column, labs.repeated_ids) == (
        "table",
        "tabular",
        "patient_id",
        False,
    )
    sleep = inspect_upload(sleep_upload())
    assert (sleep.kind, sleep.id_column, sleep.time_column) == ("timeseries", "subject", "night_hour")
    assert sleep.repeated_ids
    images = inspect_upload(image_zip([f"{s}.png" for s in IDS]))
    assert (images.format, images.kind, images.n_images) == ("zip", "image", N)
    assert any("notes.txt" in note for note in images.notes)


def test_inspect_npz_and_unknown_types():
    buffer = io.BytesIO()
    np.savez(buffer, ids=np.asarray(IDS), images=np.zeros((N, 4, 4), dtype=np.uint8))
    summary = inspect_upload(Upload("eyes.npz", buffer.getvalue()))
    assert summary.kind == "image" and "images" in summary.columns
    buffer = io.BytesIO()
    np.savez(buffer, values=np.zeros((N, 2, 5)))
    with pytest.raises(UploadError, match="no 'ids'"):
        inspect_upload(Upload("series.npz", buffer.getvalue()))
    with pytest.raises(UploadError, match=r"\.xlsx"):
        inspect_upload(Upload("labs.xlsx", b"PK"))
    with pytest.raises(UploadError, match="cannot be read as Parquet"):
        inspect_upload(Upload("labs.parquet", b"not parquet at all"))


def test_builds_a_cohort_that_loads(tmp_path):
    covariates = pd.DataFrame({"pid": IDS, "age": np.arange(N) + 40, "sex": ["F", "M"] * (N // 2)})
    out = build_cohort(
        'Eye "study" <2024>',
        [
            SourceChoice(labs_upload(), "labs", "tabular", id_column="patient_id", latents=2),
            SourceChoice(sleep_upload(), "sleep test", "timeseries", "subject", "night_hour", latents=3),
            SourceChoice(image_zip([f"{s}.png" for s in IDS]), "fundus_left", "image", latents=2),
        ],
        tmp_path / "uploads" / folder_name('Eye "study" <2024>'),
        covariates=CovariatesChoice(Upload("clinical.csv", _csv(covariates)), "pid"),
    )
    assert out.name == "eye-study-2024"
    manifest = tomllib.loads((out / "cohort.toml").read_text())
    assert manifest["name"] == 'Eye "study" <2024>'
    assert manifest["id"] == "patient_id"  # the first table's ID column names the cohort's
    assert manifest["modalities"]["sleep test"]["time"] == "night_hour"
    assert sorted(p.name for p in (out / "fundus_left").iterdir()) == sorted(f"{s}.png" for s in IDS)
    cohort = load_cohort(out)
    assert len(cohort) == N
    assert cohort.modalities["sleep test"].data.shape == (N, 2, 6)
    assert cohort.modalities["fundus_left"].data.shape == (N, 6, 6, 1)
    assert cohort.covariates["sex"].tolist() == ["F", "M"] * (N // 2)
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_csv_values_and_ids_pass_through_unchanged(tmp_path):
    text = "patient_id,a\n007,0.1000000000000000055511151231257827\n008,2\n"
    out = build_cohort(
        "x",
        [SourceChoice(Upload("t.csv", text.encode()), "t", "tabular", id_column="patient_id")],
        tmp_path / "x",
    )
    assert (out / "t.csv").read_text() == text


def test_missing_id_column_is_named(tmp_path):
    with pytest.raises(
        UploadError, match=r"Labs 2024\.csv has no subject-ID column 'subject_id'.*patient_id"
    ):
        build_cohort(
            "x", [SourceChoice(labs_upload(), "labs", "tabular", id_column="subject_id")], tmp_path / "x"
        )
    with pytest.raises(UploadError, match="choose which column holds the subject IDs"):
        build_cohort("x", [SourceChoice(labs_upload(), "labs", "tabular")], tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert list(tmp_path.iterdir()) == []  # the staging folder is removed too


def test_id_columns_are_unified_and_clashes_refused(tmp_path):
    out = build_cohort(
        "x",
        [
            SourceChoice(labs_upload("patient_id"), "labs", "tabular", id_column="patient_id"),
            SourceChoice(sleep_upload(), "sleep", "timeseries", "subject", "night_hour"),
        ],
        tmp_path / "x",
    )
    assert "patient_id" in pd.read_csv(out / "sleep.csv").columns
    frame = pd.DataFrame({"patient_id": IDS, "pid": IDS, "a": np.arange(N)})
    with pytest.raises(UploadError, match="besides its ID column 'pid'"):
        build_cohort(
            "y",
            [
                SourceChoice(labs_upload(), "labs", "tabular", id_column="patient_id"),
                SourceChoice(Upload("b.csv", _csv(frame)), "b", "tabular", id_column="pid"),
            ],
            tmp_path / "y",
        )


@pytest.mark.parametrize(
    "bad_name",
    ["../evil.png", "fundus/../../evil.png", "/etc/evil.png", "C:/evil.png", "..\\evil.png"],
)
def test_zip_with_escaping_paths_is_refused(tmp_path, bad_name):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("P000.png", png_bytes(1))
        archive.writestr(bad_name, png_bytes(2))
    upload = Upload("eyes.zip", buffer.getvalue())
    with pytest.raises(UploadError, match="refused"):
        inspect_upload(upload)
    with pytest.raises(UploadError, match="refused"):
        build_cohort("x", [SourceChoice(upload, "eyes", "image")], tmp_path / "uploads" / "x")
    assert not any(p.name == "evil.png" for p in tmp_path.rglob("*"))
    assert not (tmp_path / "uploads" / "x").exists()


def test_zip_symlink_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("P001.png")
        link.external_attr = 0o120777 << 16  # a symbolic link entry
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(UploadError, match="symbolic link"):
        inspect_upload(Upload("eyes.zip", buffer.getvalue()))


def test_zip_with_too_many_files_is_refused(monkeypatch):
    monkeypatch.setattr("crl.data.upload.reading.MAX_ZIP_MEMBERS", 5)
    with pytest.raises(UploadError, match="holds 6 files; at most 5"):
        inspect_upload(image_zip([f"P{i}.png" for i in range(4)]))  # 4 images + 2 junk entries
    assert MAX_ZIP_MEMBERS > 1000  # the real limit allows ordinary image sets


def test_zip_that_unpacks_too_large_is_refused(monkeypatch):
    monkeypatch.setattr("crl.data.upload.reading.MAX_UNPACKED_BYTES", 1000)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("P000.png", b"\0" * 5000)  # compresses to a few bytes
    with pytest.raises(UploadError, match="unpack"):
        inspect_upload(Upload("bomb.zip", buffer.getvalue()))


def test_duplicate_subject_images_are_refused():
    with pytest.raises(UploadError, match="two images for subject 'P001'"):
        inspect_upload(image_zip(["a/P001.png", "b/P001.png"], folder=""))


def test_size_limit(monkeypatch):
    upload = Upload("big.csv", b"x" * 2000)
    with pytest.raises(UploadError, match="limit is"):
        check_size(upload, limit=1000)
    monkeypatch.setattr("crl.data.upload.reading.MAX_FILE_BYTES", 1000)
    with pytest.raises(UploadError, match=r"big\.csv is 0\.0019 MB; the limit is 0\.00095 MB per file"):
        inspect_upload(upload)


def test_choices_are_checked(tmp_path):
    labs = labs_upload()
    cases = [
        (SourceChoice(labs, "", "tabular", "patient_id"), "has no name"),
        (SourceChoice(labs, "a.b", "tabular", "patient_id"), r"contains '\.'"),
        (SourceChoice(labs, "labs", "images", "patient_id"), "not one of"),
        (SourceChoice(labs, "labs", "image", "patient_id"), "cannot be a image modality"),
        (SourceChoice(labs, "labs", "tabular", "patient_id", latents=0), "from 1 to"),
        (SourceChoice(sleep_upload(), "sleep", "timeseries", "subject"), "time of each row"),
    ]
    for choice, message in cases:
        with pytest.raises(UploadError, match=message):
            build_cohort("x", [choice], tmp_path / "x")
    with pytest.raises(UploadError, match="both called modality"):
        build_cohort(
            "x",
            [
                SourceChoice(labs, "Labs", "tabular", "patient_id"),
                SourceChoice(labs, "labs", "tabular", "patient_id"),
            ],
            tmp_path / "x",
        )
    with pytest.raises(UploadError, match="no letters or digits"):
        folder_name("../..")


def test_rebuilding_replaces_the_old_folder(tmp_path):
    out = tmp_path / "c"
    build_cohort("c", [SourceChoice(labs_upload(), "labs", "tabular", "patient_id")], out)
    build_cohort("c", [SourceChoice(labs_upload(), "blood", "tabular", "patient_id")], out)
    assert sorted(p.name for p in out.iterdir()) == ["blood.csv", "cohort.toml"]
    assert validate_cohort(out).ok


def test_names():
    assert folder_name("  Eye study: 2024/../x ") == "eye-study-2024-x"
    assert suggested_modality("Fundus Left.zip") == "fundus_left"
    assert suggested_modality("2024 labs.csv") == "m_2024_labs"


def test_overlap_counts_from_sources(tmp_path):
    out = build_cohort(
        "x",
        [
            SourceChoice(labs_upload(ids=IDS[:25]), "labs", "tabular", "patient_id"),
            SourceChoice(sleep_upload(ids=IDS[5:]), "sleep", "timeseries", "subject", "night_hour"),
            SourceChoice(image_zip([f"{s}.png" for s in IDS[:28]]), "eyes", "image"),
        ],
        tmp_path / "x",
    )
    ids = source_subject_ids(out)
    assert list(ids) == ["labs", "sleep", "eyes"]
    counts = overlap_counts(ids)
    assert counts == {("labs", "sleep", "eyes"): 20, ("labs", "eyes"): 5, ("sleep", "eyes"): 3, ("sleep",): 2}
    assert validate_cohort(out).n_subjects == counts[("labs", "sleep", "eyes")]


def test_summaries():
    data = np.array([[1.0, np.nan], [2.0, np.inf], [3.0, 5.0], [6.0, 7.0]])
    table = column_summary(data, ["a", "b"]).set_index("column")
    assert table.loc["a", "mean"] == pytest.approx(3.0)
    assert table.loc["a", "sd"] == pytest.approx(np.std([1, 2, 3, 6], ddof=1))
    assert table.loc["b", "missing"] == 2 and table.loc["b", "mean"] == pytest.approx(6.0)
    assert (table.loc["b", "min"], table.loc["b", "max"]) == (5.0, 7.0)
    frame = pd.DataFrame({"age": [40.0, 50.0, np.nan], "sex": ["F", "F", "M"]})
    summary = covariate_summary(frame).set_index("covariate")
    assert summary.loc["age", "missing"] == 1 and summary.loc["age", "mean"] == pytest.approx(45.0)
    assert summary.loc["sex", "levels"] == "F (2), M (1)"


def test_missing_value_and_length_policies_reach_the_manifest(tmp_path):
    labs = pd.read_csv(io.BytesIO(labs_upload().data))
    labs.loc[3, "ldl"] = np.nan
    sleep = pd.read_csv(io.BytesIO(sleep_upload().data))
    sleep = sleep[~((sleep["subject"] == "P007") & (sleep["night_hour"] == 5))]  # one night shorter
    sources = [
        SourceChoice(Upload("labs.csv", _csv(labs)), "labs", "tabular", "patient_id", nan_policy="drop"),
        SourceChoice(Upload("sleep.csv", _csv(sleep)), "sleep", "timeseries", "subject", "night_hour"),
    ]
    out = build_cohort("x", sources, tmp_path / "x")
    report = validate_cohort(out)
    assert [p.check for p in report.errors] == ["unequal_length"]
    sources[1] = dataclasses.replace(sources[1], length_policy="pad")
    build_cohort("x", sources, out)
    manifest = tomllib.loads((out / "cohort.toml").read_text())
    assert manifest["modalities"]["labs"]["nan_policy"] == "drop"
    assert manifest["modalities"]["sleep"]["length_policy"] == "pad"
    cohort = load_cohort(out)
    assert len(cohort) == N - 1 and "P003" in cohort.excluded
    with pytest.raises(UploadError, match="not one of"):
        build_cohort("x", [dataclasses.replace(sources[0], nan_policy="zero")], out)


def test_unwritable_target_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UploadError, match="could not write the cohort folder"):
        build_cohort(
            "x", [SourceChoice(labs_upload(), "labs", "tabular", "patient_id")], blocker / "uploads" / "x"
        )


# --- hostile uploads: each is refused with an UploadError that names the file (and entry) and what to do


def _images_zip(images: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in images.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _patch_first_entry(data: bytes, local: int, central: int, value: int, fmt: str) -> bytes:
    """The zip with one header field of its first entry overwritten, in its local header and the central directory."""
    patched = bytearray(data)
    struct.pack_into(fmt, patched, patched.find(b"PK\x03\x04") + local, value)
    struct.pack_into(fmt, patched, patched.find(b"PK\x01\x02") + central, value)
    return bytes(patched)


# name: (offset in the local header, offset in the central directory, value, format, message, seen by inspect)
ZIP_DAMAGE = {
    "bad_crc": (14, 16, 0xDEADBEEF, "<I", "is damaged (Bad CRC-32", False),
    "encrypted_entry": (6, 8, 0x1, "<H", "is encrypted (password-protected)", True),
    "compression_method_99": (8, 10, 99, "<H", "is compressed with method 99", True),
    "lying_file_size": (22, 24, 10, "<I", "is damaged (Bad CRC-32", False),
}


@pytest.mark.hostile
@pytest.mark.parametrize("damage", list(ZIP_DAMAGE))
def test_damaged_image_zip_is_refused_naming_the_entry(tmp_path, damage):
    local, central, value, fmt, message, early = ZIP_DAMAGE[damage]
    images = {f"fundus/{s}.png": png_bytes(k) for k, s in enumerate(IDS)}
    upload = Upload("eyes.zip", _patch_first_entry(_images_zip(images), local, central, value, fmt))
    if early:  # visible in the zip's directory: the file's card says so before "Create cohort"
        with pytest.raises(UploadError, match=re.escape(message)):
            inspect_upload(upload)
    else:
        assert inspect_upload(upload).n_images == N
    out = tmp_path / "uploads" / "x"
    with pytest.raises(UploadError, match=re.escape(message)) as raised:
        build_cohort("x", [SourceChoice(upload, "eyes", "image")], out)
    text = str(raised.value)
    assert text.startswith("eyes.zip: entry 'fundus/P000.png' ") and "re-create the zip" in text
    assert list(out.parent.iterdir()) == []  # nothing half-written


@pytest.mark.hostile
@pytest.mark.parametrize("damage", ["bad_crc", "encrypted_entry"])
def test_damaged_npz_is_refused_naming_the_array(tmp_path, damage):
    local, central, value, fmt, message, _ = ZIP_DAMAGE[damage]
    buffer = io.BytesIO()
    np.savez(buffer, values=np.zeros((N, 2, 5)), ids=np.asarray(IDS))
    upload = Upload("sleep.npz", _patch_first_entry(buffer.getvalue(), local, central, value, fmt))
    out = tmp_path / "uploads" / "x"
    with pytest.raises(UploadError, match=re.escape(f"sleep.npz: entry 'values.npy' {message}")):
        build_cohort("x", [SourceChoice(upload, "sleep", "timeseries")], out)
    assert list(out.parent.iterdir()) == []


@pytest.mark.hostile
def test_zip_of_huge_images_is_refused_before_any_is_decoded(tmp_path):
    upload = Upload("tiny.zip", _images_zip({f"{s}.png": blank_png(8000, 8000) for s in IDS[:25]}))
    assert len(upload.data) < 100_000  # 25 images of 64 MB each once decoded
    out = tmp_path / "uploads" / "x"
    with pytest.raises(UploadError, match=r"entry 'P000\.png' is 8000x8000 pixels.*4096x4096.*[Rr]esize"):
        build_cohort("x", [SourceChoice(upload, "eyes", "image")], out)
    assert list(out.parent.iterdir()) == []


@pytest.mark.hostile
def test_npz_of_huge_images_is_refused_from_its_header():
    buffer = io.BytesIO()
    np.savez(buffer, ids=np.asarray(IDS), images=np.zeros((N, 2, 4100), dtype=np.uint8))
    with pytest.raises(UploadError, match=r"eyes\.npz: 'images' are 4100x2 pixels.*4096x4096"):
        inspect_upload(Upload("eyes.npz", buffer.getvalue()))


@pytest.mark.hostile
def test_size_over_the_limit_reads_as_more_than_the_limit():
    with pytest.raises(UploadError, match=r"big\.csv is 200\.3 MB; the limit is 200 MB per file"):
        check_size(Upload("big.csv", bytes(int(200.3 * MB))))  # zero bytes: no memory is touched
    with pytest.raises(UploadError) as raised:
        check_size(Upload("big.csv", b"x" * 2001), limit=2000)
    size, limit = re.search(r"is ([\d.]+) MB; the limit is ([\d.]+) MB", str(raised.value)).groups()
    assert float(size) > float(limit)


@pytest.mark.hostile
def test_cohort_name_in_any_script_names_its_folder(tmp_path):
    assert folder_name("日本") == "日本"
    assert folder_name("Café Study") == "cafe-study"
    out = build_cohort(
        "日本", [SourceChoice(labs_upload(), "labs", "tabular", "patient_id")], tmp_path / folder_name("日本")
    )
    assert out.name == "日本"
    assert tomllib.loads((out / "cohort.toml").read_text(encoding="utf-8"))["name"] == "日本"
    assert validate_cohort(out).ok


@pytest.mark.hostile
@pytest.mark.parametrize("header", ["patient_id,ldl,ldl", "patient_id,ldl,patient_id"])
def test_duplicate_column_names_are_refused(header):
    upload = Upload("labs.csv", f"{header}\nP000,1,2\nP001,3,4\n".encode())
    repeated = header.split(",")[-1]
    with pytest.raises(UploadError, match=f"labs\\.csv has more than one column named '{repeated}'"):
        inspect_upload(upload)


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("local", "central", "value", "fmt", "message"),
    [
        (None, 6, 0xFF, "<H", r"eyes\.zip is not a zip archive, or it is damaged \(zip file version 25\.5\)"),
        (30, 46, 0, "<B", r"eyes\.zip was refused: it holds '', an entry without a name"),
    ],
    ids=["unknown_zip_version", "entry_name_starting_with_nul"],
)
def test_zip_with_a_damaged_directory_is_refused(tmp_path, local, central, value, fmt, message):
    data = bytearray(_images_zip({f"{s}.png": png_bytes(k) for k, s in enumerate(IDS)}))
    if local is not None:
        struct.pack_into(fmt, data, data.find(b"PK\x03\x04") + local, value)
    struct.pack_into(fmt, data, data.find(b"PK\x01\x02") + central, value)
    upload = Upload("eyes.zip", bytes(data))
    with pytest.raises(UploadError, match=message):
        inspect_upload(upload)
    with pytest.raises(UploadError, match=message):
        build_cohort("x", [SourceChoice(upload, "eyes", "image")], tmp_path / "x")
    assert list(tmp_path.iterdir()) == []
