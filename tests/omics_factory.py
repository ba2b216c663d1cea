"""Small AnnData (.h5ad) and MuData (.h5mu) files, written with h5py in the layout anndata 0.12 and mudata 0.3
write (checked against files they wrote: tests/omics_fixtures), and a cohort folder built on them.

h5py is imported inside the functions, so a test module can `pytest.importorskip("h5py")` before using them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from cohort_factory import subject_ids, write_manifest

GENES = ["CD3E", "CD19", "MS4A1", "NKG7", "LYZ"]
RNA_GENES = ["GAPDH", "ACTB", "CD14", "FCGR3A"]
PROTEINS = ["CD3", "CD4", "CD8"]


def _attrs(node, kind: str, version: str = "0.2.0") -> None:
    node.attrs["encoding-type"] = kind
    node.attrs["encoding-version"] = version


def _string_array(parent, name: str, values) -> None:
    import h5py

    data = np.asarray([str(v) for v in values], dtype=object)
    _attrs(parent.create_dataset(name, data=data, dtype=h5py.string_dtype()), "string-array")


def _frame(parent, name: str, index) -> None:
    group = parent.create_group(name)
    _attrs(group, "dataframe")
    group.attrs["_index"] = "_index"
    group.attrs["column-order"] = np.array([], dtype=np.float64)
    _string_array(group, "_index", index)


def _matrix(parent, name: str, values: np.ndarray, sparse: bool) -> None:
    import h5py

    values = np.asarray(values)
    if values.dtype.kind in "OU":
        _attrs(parent.create_dataset(name, data=values.astype(object), dtype=h5py.string_dtype()), "array")
        return
    if not sparse:
        _attrs(parent.create_dataset(name, data=values), "array")
        return
    import scipy.sparse

    matrix = scipy.sparse.csr_matrix(values)
    group = parent.create_group(name)
    _attrs(group, "csr_matrix", "0.1.0")
    group.attrs["shape"] = np.asarray(values.shape)
    for part in ("data", "indices", "indptr"):
        group.create_dataset(part, data=getattr(matrix, part))


def write_anndata(group, X, obs, var, layers=None, sparse: bool = False) -> None:
    """One AnnData into an open h5py group (the file itself, or mod/<name> of a MuData file); X may be None."""
    _attrs(group, "anndata", "0.1.0")
    if X is not None:
        _matrix(group, "X", X, sparse)
    _frame(group, "obs", obs)
    _frame(group, "var", var)
    dictionary = group.create_group("layers")
    _attrs(dictionary, "dict", "0.1.0")
    for name, values in (layers or {}).items():
        _matrix(dictionary, name, values, sparse)


def write_h5ad(path: Path, X, obs, var, layers=None, sparse: bool = False) -> Path:
    import h5py

    with h5py.File(path, "w") as file:
        write_anndata(file, X, obs, var, layers, sparse)
    return path


def write_h5mu(path: Path, modalities: dict[str, dict]) -> Path:
    """modalities: name -> write_anndata's keyword arguments (X, obs, var, layers, sparse), in mod-order."""
    import h5py

    with h5py.File(path, "w") as file:
        _attrs(file, "MuData", "0.1.0")
        mods = file.create_group("mod")
        mods.attrs["mod-order"] = np.asarray(list(modalities), dtype=object)
        for name, parts in modalities.items():
            write_anndata(mods.create_group(name), **parts)
        obs = list(dict.fromkeys(s for parts in modalities.values() for s in parts["obs"]))
        _frame(file, "obs", obs)
        _frame(file, "var", [v for parts in modalities.values() for v in parts["var"]])
    return path


def omics_values(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Counts-like (mostly zero) expression, a second RNA panel and protein levels sharing two hidden causes."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    counts = rng.poisson(np.exp(0.5 + z @ rng.normal(size=(2, len(GENES))))).astype(np.float32)
    counts[rng.random(counts.shape) < 0.3] = 0  # sparse, as single-cell counts are
    rna = (z @ rng.normal(size=(2, len(RNA_GENES))) + 0.3 * rng.normal(size=(n, len(RNA_GENES)))).astype(
        np.float32
    )
    prot = (np.tanh(z) @ rng.normal(size=(2, len(PROTEINS))) + 0.3 * rng.normal(size=(n, 3))).astype(
        np.float32
    )
    return {"counts": counts, "log1p": np.log1p(counts), "rna": rna, "prot": prot}


def make_omics_cohort(tmp_path: Path, n: int = 40, seed: int = 0) -> Path:
    """A cohort of an .h5ad (sparse X, layer log1p), an .h5mu with modalities rna and prot, and clinical.csv.

    The .h5ad lists its subjects in reverse and the .h5mu's prot modality in a shuffled order, so loading has to
    align them by obs name.
    """
    root = tmp_path / "omics"
    root.mkdir()
    ids = subject_ids(n)
    values = omics_values(n, seed)
    back = slice(None, None, -1)
    write_h5ad(
        root / "blood.h5ad",
        values["counts"][back],
        ids[::-1],
        GENES,
        layers={"log1p": values["log1p"][back]},
        sparse=True,
    )
    order = np.random.default_rng(seed + 1).permutation(n)
    write_h5mu(
        root / "cite.h5mu",
        {
            "rna": {"X": values["rna"], "obs": ids, "var": RNA_GENES},
            "prot": {"X": values["prot"][order], "obs": [ids[i] for i in order], "var": PROTEINS},
        },
    )
    clinical = pd.DataFrame({"subject_id": ids, "age": np.arange(n) % 50 + 30, "sex": ["F", "M"] * (n // 2)})
    clinical.to_csv(root / "clinical.csv", index=False)
    write_manifest(
        root,
        {
            "name": "omics-cohort",
            "id": "subject_id",
            "modalities": {
                "blood": {"kind": "tabular", "path": "blood.h5ad", "layer": "log1p", "latents": 2},
                "rna": {"kind": "tabular", "path": "cite.h5mu", "modality": "rna", "latents": 2},
                "prot": {"kind": "tabular", "path": "cite.h5mu", "modality": "prot", "latents": 2},
            },
            "covariates": {"path": "clinical.csv"},
        },
    )
    return root
