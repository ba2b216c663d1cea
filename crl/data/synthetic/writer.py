"""Write a synthetic cohort folder (docs/cohort-format.md) atomically and byte-reproducibly."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from crl.data.folders import replace_folder
from crl.data.manifest import MANIFEST_FILE, manifest_text
from crl.data.synthetic.cohort import SyntheticCohort
from crl.data.synthetic.dag import Accept
from crl.data.synthetic.generator import generate
from crl.data.synthetic.presets import resolve_spec
from crl.data.truth import true_graph_path, true_latents_path
from crl.errors import CrlError
from crl.graphs.edge_table import edge_table_text

FLOAT_FORMAT = "%.6g"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed so .npz bytes do not depend on the clock


def write_preset(
    preset: str,
    out: Path,
    n: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    accept: Accept | None = None,
    **overrides,
) -> Path:
    """Generate `preset` and write it as a cohort folder at `out`; returns `out`.

    The folder is built in a hidden temporary sibling and renamed into place, so a failure never leaves a
    half-written cohort. A non-empty `out` is replaced only with `overwrite=True`.
    """
    out = Path(out)
    resolve_spec(preset, dict(overrides) | ({"n": int(n)} if n is not None else {}))  # fail before any work
    _check_target(out, overwrite)
    cohort = generate(preset, n=n, seed=seed, accept=accept, **overrides)
    write_cohort(cohort, out, overwrite=overwrite)
    return out


def write_cohort(cohort: SyntheticCohort, out: Path, overwrite: bool = False) -> Path:
    """Write an already generated cohort to `out` (atomic; see `write_preset`)."""
    out = Path(out)
    _check_target(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; a cohort folder is an ordinary folder
        _write_files(cohort, staging)
        replace_folder(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CrlError(f"{out} exists and is a file; choose another --out folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise CrlError(
            f"{out} already exists and is not empty; choose another --out folder or delete it "
            "(from Python: write_preset(..., overwrite=True))"
        )


def _write_files(cohort: SyntheticCohort, root: Path) -> None:
    entries: dict[str, dict] = {}
    for name, m in cohort.modalities.items():
        ids = cohort.subject_ids if m.subject_ids is None else m.subject_ids
        if m.kind == "tabular":
            path = f"{name}.csv"
            frame = pd.DataFrame(m.data.astype(np.float64), columns=m.feature_names)
            frame.insert(0, "subject_id", ids)
            _write_csv(frame, root / path)
        elif m.kind == "timeseries":
            path = f"{name}.npz"
            arrays = {"ids": ids, "values": m.data, "channels": np.asarray(m.feature_names)}
            write_npz(root / path, compression=cohort.npz_compression, **arrays)
        else:
            path = f"{name}.npz"
            write_npz(root / path, compression=cohort.npz_compression, ids=ids, images=m.data)
        entries[name] = {"kind": m.kind, "path": path, "latents": int(m.latents)}
        entries[name].update(cohort.labels.get("modalities", {}).get(name, {}))
    covariates = None
    if cohort.covariates is not None:
        covariates = "clinical.csv"
        _write_csv(cohort.covariates.reset_index(), root / covariates)
    manifest = manifest_text(
        cohort.preset, "subject_id", entries, covariates, cohort.labels.get("covariates")
    )
    (root / MANIFEST_FILE).write_text(manifest, encoding="utf-8")
    if cohort.readme is not None:
        (root / "README.md").write_text(cohort.readme, encoding="utf-8")

    truth = true_graph_path(root).parent
    truth.mkdir()
    _write_csv(cohort.truth.latents.reset_index(), true_latents_path(root))
    # The edge-table format of a run's graph.csv, names quoted the CSV way when they need it.
    true_graph_path(root).write_text(
        edge_table_text(("source", "target"), cohort.truth.edges), encoding="utf-8"
    )
    if cohort.truth.nuisance is not None:
        _write_csv(cohort.truth.nuisance.reset_index(), truth / "nuisance.csv")
    for key, table in cohort.extra_truth.items():
        _write_csv(table, truth / f"{key}.csv")
    info = {"preset": cohort.preset, "seed": cohort.seed, "n": len(cohort), "spec": cohort.spec.to_dict()}
    (truth / "generator.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


_COMPRESSION = {"deflate": zipfile.ZIP_DEFLATED, "bzip2": zipfile.ZIP_BZIP2}


def write_npz(path: Path, compression: str = "deflate", **arrays: np.ndarray) -> None:
    """Like `np.savez_compressed`, but with fixed zip timestamps so equal arrays give equal bytes.

    compression: "deflate" (what numpy writes) or "bzip2" (about a third smaller for images, slower;
    `np.load` reads both).
    """
    method = _COMPRESSION[compression]
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for key, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_TIME)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())
