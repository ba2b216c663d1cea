"""One loader per modality kind (and one for covariates): a file or folder in, (subject_ids, data, names) out.

Loaders append what they find to `problems` when given a list; with `problems=None` an error raises
`LoadError`. Unexpected exceptions from the readers (pandas, pyarrow, numpy, Pillow) propagate: the validator
turns them into "cannot read" problems.

Tables and covariates live in `table`, time series in `series`, images in `image`, .npz archives in `npz`,
and what they share (result tuple, problem collector, message wording) in `common`.
"""

from crl.data.loaders.common import MAX_LISTED, Found, Loaded, LoadError, as_str_ids, listing, plural, verb
from crl.data.loaders.image import IMAGE_SUFFIXES, load_images
from crl.data.loaders.series import load_timeseries, target_length
from crl.data.loaders.table import load_covariates, load_tabular, read_table

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_LISTED",
    "Found",
    "LoadError",
    "Loaded",
    "as_str_ids",
    "listing",
    "load_covariates",
    "load_images",
    "load_tabular",
    "load_timeseries",
    "plural",
    "read_table",
    "target_length",
    "verb",
]
