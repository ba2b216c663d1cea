"""One loader per modality kind (and one for covariates): a file or folder in, (subject_ids, data, names) out.

Loaders append what they find to `problems` when given a list; with `problems=None` an error raises
`LoadError`. Unexpected exceptions from the readers (pandas, pyarrow, numpy, Pillow) propagate: the validator
turns them into "cannot read" problems.

Tables and covariates live in `table`, time series in `series`, images in `image`, .npz archives in `npz`,
AnnData/MuData files (a tabular modality's other source) in `anndata`, and what they share (result tuple, problem collector, the regular-file rule, message wording) in `common`.
"""

from crl.data.loaders.anndata import anndata_obs_names, load_anndata
from crl.data.loaders.common import (
    MAX_LISTED,
    Found,
    Loaded,
    LoadError,
    as_str_ids,
    listing,
    plural,
    special_file,
    verb,
)
from crl.data.loaders.image import (
    IMAGE_SUFFIXES,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_SIDE,
    RESIZE_FIX,
    ImageTooLarge,
    image_array_problem,
    load_images,
    read_header,
)
from crl.data.loaders.npz import npy_header, npz_headers
from crl.data.loaders.series import load_timeseries, target_length
from crl.data.loaders.table import csv_header, load_covariates, load_tabular, read_table, repeated_names

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_SIDE",
    "MAX_LISTED",
    "RESIZE_FIX",
    "Found",
    "ImageTooLarge",
    "LoadError",
    "Loaded",
    "anndata_obs_names",
    "as_str_ids",
    "csv_header",
    "image_array_problem",
    "listing",
    "load_anndata",
    "load_covariates",
    "load_images",
    "load_tabular",
    "load_timeseries",
    "npy_header",
    "npz_headers",
    "plural",
    "read_header",
    "read_table",
    "repeated_names",
    "special_file",
    "target_length",
    "verb",
]
