"""Cohort folders with one hostile thing wrong (issue #20): huge images in tiny files, special files, paths
leading out of the folder, zero-size arrays, repeated column names. Cases of the BROKEN table in
test_data_validate.py; each builder takes tmp_path and returns the cohort folder."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
from cohort_factory import IMAGE, TABULAR, TIMESERIES, blank_png, edit_manifest, make_cohort, subject_ids


def _labs(root):
    return pd.read_csv(root / f"{TABULAR}.csv", dtype={"subject_id": str})


def _set(modality, key, value):
    def change(m):
        m["modalities"][modality][key] = value

    return change


def latents_too_many(tmp):
    return edit_manifest(make_cohort(tmp), _set(TABULAR, "latents", 100_000))


def _every_image(tmp, width, height):
    """Every subject's image replaced by one of `width` x `height` pixels (a few KB on disk whatever the size)."""
    root = make_cohort(tmp)
    for subject in subject_ids(40):
        (root / IMAGE / f"{subject}.png").write_bytes(blank_png(width, height))
    return root


def images_wider_than_the_cap(tmp):
    return _every_image(tmp, 4100, 1)


def huge_images_in_tiny_files(tmp):
    return _every_image(tmp, 8000, 8000)  # 64 MB each once decoded, 60 KB each on disk


def npz_images_wider_than_the_cap(tmp):
    root = make_cohort(tmp, image="npz")
    np.savez(root / f"{IMAGE}.npz", ids=np.asarray(subject_ids(40)), images=np.zeros((40, 2, 4100), np.uint8))
    return root


def series_npz_of_shape(shape):
    def build(tmp):
        root = make_cohort(tmp)
        np.savez(root / f"{TIMESERIES}.npz", ids=np.asarray(subject_ids(40)), values=np.zeros(shape))
        return root

    build.__name__ = f"npz_values_of_shape_{'x'.join(map(str, shape))}"
    return build


def npz_images_zero_height(tmp):
    root = make_cohort(tmp, image="npz")
    np.savez(root / f"{IMAGE}.npz", ids=np.asarray(subject_ids(40)), images=np.zeros((40, 0, 8), np.uint8))
    return root


def _replace_with_fifo(path):
    path.unlink()
    os.mkfifo(path)


def tabular_source_is_a_fifo(tmp):
    root = make_cohort(tmp)
    _replace_with_fifo(root / f"{TABULAR}.csv")
    return root


def timeseries_source_links_to_dev_zero(tmp):
    root = make_cohort(tmp)
    (root / f"{TIMESERIES}.npz").unlink()
    (root / f"{TIMESERIES}.npz").symlink_to("/dev/zero")
    return root


def covariates_link_to_a_fifo(tmp):
    root = make_cohort(tmp, covariates="csv")
    os.mkfifo(tmp / "pipe.csv")
    (root / "clinical.csv").unlink()
    (root / "clinical.csv").symlink_to(tmp / "pipe.csv")
    return root


def absolute_modality_path(tmp):
    root = make_cohort(tmp)
    return edit_manifest(root, _set(TABULAR, "path", str((root / f"{TABULAR}.csv").resolve())))


def modality_path_leaves_the_folder(tmp):
    root = make_cohort(tmp)
    shutil.copy(root / f"{TABULAR}.csv", tmp / "outside.csv")
    return edit_manifest(root, _set(TABULAR, "path", "../outside.csv"))


def modality_path_with_a_control_character(tmp):
    return edit_manifest(make_cohort(tmp), _set(TABULAR, "path", "labs\x00.csv"))


def covariates_path_leaves_the_folder(tmp):
    root = make_cohort(tmp, covariates="csv")
    shutil.copy(root / "clinical.csv", tmp / "clinical.csv")
    return edit_manifest(root, lambda m: m["covariates"].update(path="sub/../../clinical.csv"))


def duplicate_column_names_csv(tmp):
    root = make_cohort(tmp)
    frame = _labs(root)
    frame.columns = ["subject_id", "f0", "f1", "f1", "f3"]  # pandas would read the second as 'f1.1'
    frame.to_csv(root / f"{TABULAR}.csv", index=False)
    return root


def duplicate_column_names_parquet(tmp):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = make_cohort(tmp, tabular="parquet")
    frame = pd.read_parquet(root / f"{TABULAR}.parquet")
    columns = [pa.array(frame[c]) for c in frame.columns]
    pq.write_table(
        pa.Table.from_arrays(columns, names=["subject_id", "f0", "f0", "f2", "f3"]),
        root / f"{TABULAR}.parquet",
    )
    return root
