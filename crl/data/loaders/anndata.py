"""AnnData (.h5ad) and MuData (.h5mu) files as tabular modalities: obs names are the subject IDs, var names the
features, X (or a named layer) the values.

Read with h5py alone, following anndata's on-disk format (written by anndata >= 0.7 and by mudata), so neither
anndata nor mudata has to be installed (their releases pin pandas below what crl uses) and only the matrix
asked for is read from the file. h5py is the optional `omics` extra, imported inside these functions: crl
imports without it, and a cohort naming an .h5ad without it gets a problem saying which extra to install.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pandas as pd

from crl.data.loaders.common import Found, Loaded, as_str_ids, listing, plural, require_regular, verb
from crl.data.loaders.table import numeric_columns, repeated_names
from crl.data.manifest import Problem

# A modality is densified to float32 before training; beyond this it would not fit a typical machine's memory.
MAX_DENSE_BYTES = 2_000_000_000  # 2 GB: 500 million float32 values
EXTRA_FIX = "install the omics extra: pip install 'crl[omics]' (it adds h5py, which reads these files)."
RESAVE_FIX = "open it with anndata (or mudata) and save it again, e.g. anndata.read_h5ad(p).write_h5ad(p)."
SPARSE = {"csr_matrix": "csr", "csc_matrix": "csc", "csr": "csr", "csc": "csc"}


def load_anndata(
    path: Path, layer: str | None = None, modality: str | None = None, problems: list[Problem] | None = None
) -> Loaded:
    """An .h5ad (or one modality of an .h5mu) -> ids (N,) from obs names, data (N, F) float32, var names.

    layer: a name in `layers` (default: X). modality: the MuData modality to read (may be left out when the
    file holds only one). Sparse matrices are densified, refused when that would exceed MAX_DENSE_BYTES.
    """
    found = Found(path, problems)
    with _open(path, found) as file:
        group, where = _anndata_group(file, modality, found)
        ids = _obs_names(group, where, found)
        names = _var_names(group, where, found)
        node, what = _matrix(group, layer, where, found)
        data, names = _values(node, (len(ids), len(names)), f"{where}{what}", names, found)
    found.flush()
    return Loaded(ids, data, names)


def anndata_obs_names(path: Path, modality: str | None = None) -> np.ndarray:
    """Only the subject IDs (obs names) of an .h5ad, or of one modality of an .h5mu; raises LoadError."""
    found = Found(path, None)
    with _open(path, found) as file:
        group, where = _anndata_group(file, modality, found)
        return _obs_names(group, where, found)


def _open(path: Path, found: Found):
    require_regular(path, found)
    try:
        import h5py
    except ImportError:
        raise found.fatal(
            "missing_extra",
            f"reading {Path(path).suffix or 'AnnData/MuData'} files needs the optional package h5py, "
            "which is not installed.",
            EXTRA_FIX,
        ) from None
    if not h5py.is_hdf5(path):
        raise found.fatal(
            "unreadable_file",
            "is not an HDF5 file, so it cannot be an AnnData (.h5ad) or MuData (.h5mu) file.",
            "save the data with anndata (adata.write_h5ad) or mudata (mdata.write), or as a .csv/.parquet "
            "table, and check the file was copied whole.",
        )
    return h5py.File(path, "r")


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _is_group(node) -> bool:
    return hasattr(node, "keys")


def _anndata_group(file, modality: str | None, found: Found):
    """The group holding obs/var/X: the file itself, or `mod/<modality>` of a MuData file; and the message prefix."""
    mods = file.get("mod")
    if mods is not None and _is_group(mods):
        listed = [_text(m) for m in np.atleast_1d(mods.attrs.get("mod-order", []))]
        order = [m for m in listed if m in mods] + [m for m in mods if m not in listed]
        if modality is None and len(order) != 1:
            raise found.fatal(
                "missing_modality",
                f"is a MuData file holding {plural(len(order), 'modality', 'modalities')} ({listing(order, 8)}); "
                "which one to read is not said.",
                f'add modality = "{order[0] if order else "rna"}" to this [modalities.<name>] table of cohort.toml '
                "(several tables may point at the same file, one modality each).",
            )
        modality = modality if modality is not None else order[0]
        if modality not in order:
            close = difflib.get_close_matches(modality, order, n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            has = f"this file has modalities: {listing(order, 8)}" if order else "this file holds no modality"
            raise found.fatal(
                "missing_modality",
                f"modality '{modality}' not found; {has}.{hint}",
                "set modality = one of those in cohort.toml (names are case-sensitive).",
            )
        group, where = mods[modality], f"modality '{modality}': "
    else:
        if modality is not None:
            found.add(
                "warning",
                "unknown_key",
                f"modality = '{modality}' ignored: this is an AnnData file, which holds one modality "
                "(MuData .h5mu files hold several).",
                "remove modality from this modality's table in cohort.toml.",
            )
        group, where = file, ""
    obs, var = group.get("obs"), group.get("var")
    if obs is None or var is None:
        raise found.fatal(
            "unsupported_file",
            f"{where}is an HDF5 file but not an AnnData file: it has no 'obs' and 'var'.",
            "save the data with anndata (adata.write_h5ad) or mudata (mdata.write), or as a .csv/.parquet table.",
        )
    if not (_is_group(obs) and _is_group(var)):
        raise found.fatal(
            "unsupported_file",
            f"{where}was written by anndata older than 0.7 (obs and var as record arrays), a layout crl does "
            "not read.",
            RESAVE_FIX,
        )
    return group, where


def _strings(node, found: Found, where: str) -> np.ndarray:
    """A string array, a categorical or a number array of the on-disk format as an object array of str."""
    if _is_group(node):
        if "codes" not in node or "categories" not in node:
            raise found.fatal(
                "unsupported_file", f"{where}an index is stored in a layout crl does not read.", RESAVE_FIX
            )
        categories = _strings(node["categories"], found, where)
        codes = node["codes"][()]
        return np.where(codes >= 0, categories[np.clip(codes, 0, None)], "").astype(object)
    import h5py

    if h5py.check_string_dtype(node.dtype) is not None:
        return np.asarray(node.asstr()[()], dtype=object)
    values = node[()]
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8", "replace").astype(object)
    return values  # numbers: as_str_ids turns whole-number floats into "12", not "12.0"


def _index(frame, what: str, where: str, found: Found) -> np.ndarray:
    key = _text(frame.attrs.get("_index", "_index"))
    if key not in frame:
        raise found.fatal("unsupported_file", f"{where}{what} has no index ('{key}').", RESAVE_FIX)
    return _strings(frame[key], found, where)


def _obs_names(group, where: str, found: Found) -> np.ndarray:
    names = _index(group["obs"], "obs", where, found)
    blank = np.asarray([not str(n).strip() for n in names], dtype=bool)
    if blank.any():
        n = int(blank.sum())
        raise found.fatal(
            "missing_ids",
            f"{where}{plural(n, 'observation')} {verb(n, 'has', 'have')} an empty name (obs rows "
            f"{listing(np.flatnonzero(blank))}); obs names are the subject IDs.",
            "give every observation its subject ID as its name (adata.obs_names = ...) and save the file again.",
        )
    return as_str_ids(names)


def _var_names(group, where: str, found: Found) -> list[str]:
    names = [str(n) for n in _index(group["var"], "var", where, found)]
    repeated = repeated_names(names)
    if repeated:  # as in a table: which copy holds the values meant by the name is the user's call
        raise found.fatal(
            "duplicate_columns",
            f"{where}{plural(len(repeated), 'feature name')} (var names) {verb(len(repeated), 'appears', 'appear')} "
            f"more than once: {listing(f'{name} (x{k})' for name, k in repeated)}; the copies cannot be told apart.",
            "give every feature its own name (anndata: adata.var_names_make_unique()) and save the file again.",
        )
    if not names:
        raise found.fatal(
            "no_features", f"{where}has no features (var is empty).", "add at least one feature."
        )
    return names


def _matrix(group, layer: str | None, where: str, found: Found):
    """The node holding the values (X or `layers/<layer>`) and how messages name it."""
    layers = group.get("layers")
    present = [str(k) for k in layers] if layers is not None and _is_group(layers) else []
    has = f"this file has layers: {listing(present, 8)}" if present else "this file has no layers"
    if where:
        has = has.replace("this file", "this modality")
    if layer is None:
        if "X" not in group:
            fix = (
                'name the layer to read: layer = "..." in cohort.toml.'
                if present
                else "save the values as X."
            )
            raise found.fatal("missing_layer", f"{where}has no X matrix (saved with X=None); {has}.", fix)
        return group["X"], "X"
    if layer not in present:
        close = difflib.get_close_matches(layer, present, n=1, cutoff=0.6)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise found.fatal(
            "missing_layer",
            f"{where}layer '{layer}' not found; {has}.{hint}",
            "set layer = one of those in cohort.toml, or leave layer out to read X.",
        )
    return layers[layer], f"layer '{layer}'"


def _values(node, shape: tuple[int, int], what: str, names: list[str], found: Found):
    """The matrix as dense float32 (N, F), and the feature names kept (text columns are reported and dropped)."""
    if _is_group(node):
        layout = _text(node.attrs.get("encoding-type", node.attrs.get("h5sparse_format", "")))
        stored = tuple(int(k) for k in node.attrs.get("shape", node.attrs.get("h5sparse_shape", ())))
        if layout not in SPARSE or not {"data", "indices", "indptr"} <= set(node):
            raise found.fatal(
                "unsupported_file",
                f"{what} is stored as '{layout or 'a group'}', which crl does not read (it reads dense arrays and "
                "CSR/CSC sparse matrices).",
                "store the values as a dense or CSR sparse matrix and save the file again.",
            )
        dtype = node["data"].dtype
    else:
        layout, stored, dtype = "dense", tuple(node.shape), node.dtype
    if stored != shape:
        raise found.fatal(
            "unsupported_file",
            f"{what} is {' x '.join(map(str, stored)) or 'a single value'} but the file names {shape[0]} "
            f"observations and "
            f"{shape[1]} features.",
            RESAVE_FIX,
        )
    dense_bytes = shape[0] * shape[1] * 4
    if dense_bytes > MAX_DENSE_BYTES:
        raise found.fatal(
            "too_large",
            f"{what} is {shape[0]:,} x {shape[1]:,} values: {dense_bytes / 1e9:.1f} GB once dense, more than "
            f"the {MAX_DENSE_BYTES / 1e9:.1f} GB read for one modality.",
            "keep fewer features before making the cohort (e.g. the 2,000 most variable genes: "
            "scanpy.pp.highly_variable_genes(adata, n_top_genes=2000, subset=True)), or fewer observations.",
        )
    if dtype.kind in "biuf":
        if layout == "dense":
            values = node[()] if dtype.kind == "b" else node.astype(np.float32)[()]
            return np.asarray(values, dtype=np.float32), names
        import scipy.sparse

        make = scipy.sparse.csr_matrix if SPARSE[layout] == "csr" else scipy.sparse.csc_matrix
        parts = (node["data"][()].astype(np.float32), node["indices"][()], node["indptr"][()])
        return make(parts, shape=shape).toarray(), names
    if layout != "dense" or dtype.kind not in "OSU":
        raise found.fatal(
            "non_numeric",
            f"{what} holds {dtype} values, not numbers.",
            "store numbers (integers or floats) in the matrix and save the file again.",
        )
    frame = numeric_columns(pd.DataFrame(_strings(node, found, what), columns=names), found)
    if frame.shape[1] == 0:
        raise found.fatal("no_features", f"{what} has no numeric feature.", "store numbers in the matrix.")
    return frame.to_numpy(dtype=np.float32, na_value=np.nan), list(frame.columns)
