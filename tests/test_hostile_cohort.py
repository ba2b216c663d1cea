"""Hostile cohort data beyond the validator's table: huge images, special files, damaged uploads, odd names."""

from __future__ import annotations

import pytest
from cohort_factory import make_cohort

from crl.cli import main

pytestmark = pytest.mark.hostile


# --- cohort data (hdata)


def _huge_image_cohort(tmp_path):
    """25 subjects whose grey 8000x8000 PNGs take 60 KB each on disk and 64 MB each once decoded."""
    from cohort_factory import IMAGE, blank_png, subject_ids

    root = make_cohort(tmp_path, n=25)
    for subject in subject_ids(25):
        (root / IMAGE / f"{subject}.png").write_bytes(blank_png(8000, 8000))
    return root


def test_validate_and_train_refuse_huge_images_without_decoding_them(tmp_path, capsys):
    import tracemalloc

    root = _huge_image_cohort(tmp_path)
    tracemalloc.start()
    try:
        assert main(["validate", str(root)]) == 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    text = capsys.readouterr().err
    assert "retina: images may be at most 4096x4096 pixels" in text and "s000.png (8000x8000)" in text
    assert "resize" in text.lower() and "Traceback" not in text
    assert peak < 100 * 2**20, f"validate allocated {peak / 2**20:.0f} MB"
    run = tmp_path / "run"
    assert main(["train", str(root), "--out", str(run)]) == 1
    captured = capsys.readouterr()
    assert "s000.png (8000x8000)" in captured.err and "Traceback" not in captured.out + captured.err
    assert not run.exists()


def _cli(command: str, root, tmp_path, timeout: float = 120):
    """`crl <command>` in a child process: a hang or a runaway read is killed, never the test session."""
    import os
    import resource
    import subprocess
    import sys

    def limit_memory():  # 4 GB of address space: reading /dev/zero for ever fails instead of filling memory
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    argv = [command, str(root)] + (["--out", str(tmp_path / "run")] if command == "train" else [])
    code = f"import sys; from crl.cli import main; sys.exit(main({argv!r}))"
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
        preexec_fn=limit_memory if command == "validate" else None,
    )


def _fifo_source(tmp_path):
    import os

    from cohort_factory import TABULAR

    root = make_cohort(tmp_path)
    (root / f"{TABULAR}.csv").unlink()
    os.mkfifo(root / f"{TABULAR}.csv")
    return root, f"{TABULAR}.csv: {TABULAR}.csv is a named pipe (FIFO), not a regular file"


def _dev_zero_table(tmp_path):
    from cohort_factory import TABULAR

    root = make_cohort(tmp_path)
    (root / f"{TABULAR}.csv").unlink()
    (root / f"{TABULAR}.csv").symlink_to("/dev/zero")  # read as a CSV it never ends
    return root, "links to /dev/zero, a character device, not to a regular file"


def _dev_zero_npz(tmp_path):
    from cohort_factory import TIMESERIES

    root = make_cohort(tmp_path)
    (root / f"{TIMESERIES}.npz").unlink()
    (root / f"{TIMESERIES}.npz").symlink_to("/dev/zero")
    return root, "links to /dev/zero, a character device, not to a regular file"


@pytest.mark.parametrize(
    ("command", "build"),
    [
        ("validate", _fifo_source),
        ("train", _fifo_source),
        ("validate", _dev_zero_table),  # validate runs under a 4 GB address-space limit
        ("train", _dev_zero_npz),
    ],
    ids=["validate-fifo", "train-fifo", "validate-dev_zero", "train-dev_zero"],
)
def test_special_file_as_a_source_fails_fast(tmp_path, command, build):
    root, expected = build(tmp_path)
    result = _cli(command, root, tmp_path, timeout=60)
    assert result.returncode == 1, result.stderr[-2000:]
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_special_file_in_an_image_folder_is_skipped_with_a_warning(tmp_path):
    import os

    from cohort_factory import IMAGE

    root = make_cohort(tmp_path)
    for name in ("s003.png", "s004.png"):
        (root / IMAGE / name).unlink()
    os.mkfifo(root / IMAGE / "s003.png")
    (root / IMAGE / "s004.png").symlink_to("/dev/zero")
    result = _cli("validate", root, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 entries that are not regular files: s003.png, s004.png" in result.stdout
    assert "s003, s004" in result.stdout  # and those subjects are named as left out


@pytest.mark.parametrize(("shape", "expected"), [((25, 3, 0), "0 time steps"), ((25, 0, 12), "0 channels")])
def test_train_refuses_series_with_an_empty_dimension(tmp_path, capsys, shape, expected):
    import numpy as np
    from cohort_factory import TIMESERIES, subject_ids

    root = make_cohort(tmp_path, n=25)
    np.savez(root / f"{TIMESERIES}.npz", ids=np.asarray(subject_ids(25)), values=np.zeros(shape))
    run = tmp_path / "run"
    assert main(["train", str(root), "--out", str(run)]) == 1
    captured = capsys.readouterr()
    assert f"'values' has shape {shape}: {expected}" in captured.err
    assert "Traceback" not in captured.out + captured.err and not run.exists()


@pytest.mark.timeout(60)  # a regression would block on the pipe: fail in a minute, not hang the session
def test_truth_and_overlap_do_not_open_a_fifo(tmp_path):
    import os

    from cohort_factory import TABULAR

    from crl.data.overlap import source_subject_ids
    from crl.data.truth import TRUE_LATENTS_FILE, load_truth, true_latents_path
    from crl.errors import CrlError

    root = make_cohort(tmp_path)
    (root / "truth").mkdir()
    os.mkfifo(true_latents_path(root))
    with pytest.raises(CrlError, match=f"{TRUE_LATENTS_FILE} is a named pipe \\(FIFO\\), not a regular file"):
        load_truth(root)
    (root / f"{TABULAR}.csv").unlink()
    os.mkfifo(root / f"{TABULAR}.csv")
    assert list(source_subject_ids(root)) == ["sleep", "retina"]  # the pipe is left out, unread


def test_image_between_the_cap_and_pillows_refusal_is_named_without_a_warning(tmp_path):
    import warnings

    from cohort_factory import blank_png

    from crl.data.loaders import load_images

    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(
        blank_png(5000, 4000)
    )  # 20 M pixels: Pillow only warns, it does not refuse
    (folder / "b.png").write_bytes(blank_png(8, 8))
    problems = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_images(folder, problems)
    assert loaded.subject_ids.tolist() == ["b"]
    assert any(
        p.check == "image_too_large" and "a.png (5000x4000)" in p.message and p.fix for p in problems
    ), problems


@pytest.mark.parametrize("image", ["png", "npz"])
def test_image_modality_over_the_memory_cap_is_refused_before_decoding(tmp_path, monkeypatch, image):
    from crl.data.loaders import image as image_loader
    from crl.data.validate import validate_cohort

    root = make_cohort(tmp_path, image=image)  # 40 images of 8x8: 2,560 bytes
    monkeypatch.setattr(image_loader, "MAX_IMAGE_BYTES", 2_000)
    report = validate_cohort(root)
    problem = next(p for p in report.errors if p.check == "image_too_large")
    assert ("40 images of 8x8 pixels" if image == "png" else "'images' (40, 8, 8)") in problem.message
    assert "at most" in problem.message and "resize" in problem.fix
