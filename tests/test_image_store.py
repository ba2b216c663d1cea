"""Image modalities larger than memory (issue 25): decoded once into the cache folder, memory-mapped, and never
held whole by loading or training; results equal to those from an in-memory array."""

from __future__ import annotations

import dataclasses
import json
import os
import time
import tracemalloc

import numpy as np
import pytest
from cohort_factory import IMAGE, make_cohort
from PIL import Image

from crl.cli import main
from crl.config import resolve_config
from crl.core.model import build_model
from crl.data import image_store
from crl.data.load import load_cohort
from crl.data.loaders.image import load_images
from crl.engine.encode import posterior_means
from crl.engine.fit import fit

N, SIDE = 800, 32


@pytest.fixture
def cohort_dir(tmp_path):
    return make_cohort(tmp_path, n=N, image="npz", image_size=SIDE, colour=True, timeseries=None)


def _config(cohort):
    overrides = ["train.epochs=1", "train.min_steps=0", "train.batch_size=32", "train.restarts=1"]
    return resolve_config(cohort.schema(), None, overrides, "cpu", 0)


class _Steps:
    """Stops training after a few steps: enough to gather batches from every part of the array."""

    def __init__(self, steps: int):
        self.steps, self.seen = steps, 0

    def on_step(self, info):
        self.seen += 1
        return self.seen >= self.steps


def test_loading_and_training_never_hold_a_whole_image_modality(cohort_dir, tmp_path, monkeypatch):
    modality_bytes = N * SIDE * SIDE * 3
    warm = load_cohort(cohort_dir)  # a first training imports what fit() needs (megabytes of modules)
    fit(build_model(_config(warm), warm.schema()), warm, _config(warm), callbacks=[_Steps(4)])
    monkeypatch.setenv("CRL_CACHE", str(tmp_path / "fresh"))  # the measured load decodes again
    monkeypatch.setattr(image_store, "CHUNK_BYTES", modality_bytes // 16)  # as a large modality would be
    tracemalloc.start()
    try:
        cohort = load_cohort(cohort_dir, missing_policy="infer")
        images = cohort.modalities[IMAGE].data
        assert isinstance(images, np.memmap)
        assert images.nbytes == modality_bytes
        config = _config(cohort)
        model = build_model(config, cohort.schema())
        fit(model, cohort, config, callbacks=[_Steps(4)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # numpy allocations are traced (torch's are not: its batches are small and not what this guards).
    assert peak < modality_bytes / 2, f"peak {peak} bytes for a {modality_bytes}-byte image modality"


def test_second_load_reuses_the_decoded_file(cohort_dir):
    first = load_cohort(cohort_dir).modalities[IMAGE].data
    second = load_cohort(cohort_dir).modalities[IMAGE].data
    assert first.filename == second.filename
    with np.load(cohort_dir / f"{IMAGE}.npz") as archive:
        np.testing.assert_array_equal(second, archive["images"])


def test_an_edited_source_is_decoded_again(cohort_dir):
    before = load_cohort(cohort_dir).modalities[IMAGE].data
    path = cohort_dir / f"{IMAGE}.npz"
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["images"] = 255 - arrays["images"]
    np.savez(path, **arrays)
    after = load_cohort(cohort_dir).modalities[IMAGE].data
    assert after.filename != before.filename
    np.testing.assert_array_equal(after, 255 - np.asarray(before))


def test_latents_equal_those_from_images_in_memory(cohort_dir):
    cohort = load_cohort(cohort_dir)
    in_memory = dataclasses.replace(
        cohort,
        modalities={n: dataclasses.replace(m, data=np.array(m.data)) for n, m in cohort.modalities.items()},
    )
    assert not isinstance(in_memory.modalities[IMAGE].data, np.memmap)
    latents = []
    for each in (cohort, in_memory):
        config = _config(each)
        model = build_model(config, each.schema())
        result = fit(model, each, config, callbacks=[_Steps(3)])
        latents.append(posterior_means(model, each, result.normaliser)[0])
    np.testing.assert_array_equal(latents[0], latents[1])


@pytest.fixture
def folder_dir(tmp_path):
    return make_cohort(tmp_path, n=60, image="png", image_size=SIDE, colour=True, timeseries=None)


def test_an_image_folder_is_decoded_once_into_the_cache(folder_dir):
    first = load_cohort(folder_dir).modalities[IMAGE].data
    assert isinstance(first, np.memmap)
    second = load_cohort(folder_dir).modalities[IMAGE].data
    assert first.filename == second.filename
    subject = load_cohort(folder_dir).subject_ids[7]
    with Image.open(folder_dir / IMAGE / f"{subject}.png") as image:
        np.testing.assert_array_equal(second[7], np.asarray(image.convert("RGB")))


def test_a_replaced_image_decodes_the_folder_again(folder_dir):
    before = load_cohort(folder_dir)
    subject = before.subject_ids[3]
    flipped = 255 - np.asarray(before.modalities[IMAGE].data[3])
    Image.fromarray(flipped).save(folder_dir / IMAGE / f"{subject}.png")
    after = load_cohort(folder_dir).modalities[IMAGE].data
    assert after.filename != before.modalities[IMAGE].data.filename
    np.testing.assert_array_equal(after[3], flipped)


def test_a_corrupt_image_is_left_out_and_reported_on_every_load(folder_dir):
    folder = folder_dir / IMAGE
    files = sorted(folder.iterdir())
    whole = files[5].read_bytes()
    files[5].write_bytes(whole[: len(whole) // 2])  # a valid header, then the pixels stop
    for _ in range(2):  # the second read must not reuse a decode that hid the corrupt file
        problems = []
        loaded = load_images(folder, problems)
        assert [p.check for p in problems if p.severity == "error"] == ["corrupt_image"]
        assert files[5].stem not in set(loaded.subject_ids)
    kept = list(loaded.subject_ids).index(files[6].stem)  # the rows after it moved up with their IDs
    with Image.open(files[6]) as image:
        np.testing.assert_array_equal(loaded.data[kept], np.asarray(image.convert("RGB")))
    assert not list(image_store.store_folder().glob("*.npy"))  # nothing published


def _stored(tmp_path, key: str, rows: int, age: float) -> None:
    image_store.build(key, (rows, 8, 8, 3), lambda out: None)
    path = image_store.store_folder() / f"{key}.npy"
    os.utime(path, (time.time() - age, time.time() - age))


def test_the_store_keeps_to_its_budget_least_recently_used_first(tmp_path, monkeypatch):
    monkeypatch.setenv("CRL_IMAGE_CACHE_GB", "1000")
    for key, age in (("old", 300), ("used", 200), ("new", 100)):
        _stored(tmp_path, key, 1000, age)
    assert image_store.cached("used") is not None  # a hit marks it used now
    size = (image_store.store_folder() / "new.npy").stat().st_size
    freed = image_store.prune(budget=2 * size)
    assert freed == size
    assert sorted(p.stem for p in image_store.stored_files()) == ["new", "used"]


def test_a_new_decode_is_never_pruned_by_its_own_publication(tmp_path, monkeypatch):
    monkeypatch.setenv("CRL_IMAGE_CACHE_GB", "0")
    _stored(tmp_path, "first", 100, 0)
    _stored(tmp_path, "second", 100, 0)
    assert [p.stem for p in image_store.stored_files()] == ["second"]
    assert image_store.cached("second") is not None


def test_crl_cache_reports_and_clears(tmp_path, capsys):
    _stored(tmp_path, "a", 500, 0)
    assert main(["cache", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["files"] == 1 and before["bytes"] > 500 * 8 * 8 * 3
    assert main(["cache", "--clear"]) == 0
    assert "deleted" in capsys.readouterr().out
    assert image_store.usage() == (0, 0)
