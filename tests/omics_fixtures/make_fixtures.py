"""Rewrite blood.h5ad.gz and cite.h5mu.gz here with the real anndata and mudata, so the tests check crl's reader
against files those libraries wrote (CI installs only h5py). Run where both are installed:

    python tests/omics_fixtures/make_fixtures.py

The values are the ones tests/test_data_anndata_fixtures.py expects; change both together.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).parent
COUNTS = np.array([[0, 1, 0], [2, 0, 3], [0, 0, 4], [5, 6, 0], [0, 7, 0], [8, 0, 9]], dtype=np.float32)
IDS = ["p0", "p1", "p2", "p3", "p4", "p5"]
GENES = ["CD3E", "CD19", "MS4A1"]
PROTEINS = ["CD3", "CD19_prot"]


def main() -> None:
    rna = ad.AnnData(X=sp.csr_matrix(COUNTS))
    rna.obs_names, rna.var_names = IDS, GENES
    rna.obs_names.name = "patient"  # the obs index then has its own name in the file
    rna.layers["log1p"] = np.log1p(COUNTS)
    rna.obs["group"] = ["a", "b"] * 3  # a categorical column beside the index
    prot = ad.AnnData(X=np.arange(12, dtype=np.int64).reshape(6, 2))
    prot.obs_names, prot.var_names = IDS[::-1], PROTEINS
    with tempfile.TemporaryDirectory() as folder:
        files = {"blood.h5ad": Path(folder) / "blood.h5ad", "cite.h5mu": Path(folder) / "cite.h5mu"}
        rna.write_h5ad(files["blood.h5ad"])
        md.MuData({"rna": rna, "prot": prot}).write(files["cite.h5mu"])
        for name, path in files.items():
            with open(path, "rb") as source, gzip.GzipFile(HERE / f"{name}.gz", "wb", mtime=0) as target:
                shutil.copyfileobj(source, target)
    print(
        f"wrote blood.h5ad.gz and cite.h5mu.gz in {HERE} (anndata {ad.__version__}, mudata {md.__version__})"
    )


if __name__ == "__main__":
    main()
