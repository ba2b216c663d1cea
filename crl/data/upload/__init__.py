"""Build a cohort folder from uploaded files and the user's description of each: checked, size-limited, atomic.

The dashboard hands over bytes (it never trusts a file name as a path): `inspect_upload` says what a file
holds so the page can offer sensible choices, and `build_cohort` writes the folder and its `cohort.toml`
(docs/cohort-format.md). Everything the user can get wrong raises `UploadError` with what to do instead.

What the user uploaded and chose lives in `choices`, names in `names`, reading bytes safely (size limits,
archives) in `reading`, describing a file in `inspection`, and writing the folder in `build`.
"""

from crl.config import MAX_LATENTS
from crl.data.upload.build import build_cohort
from crl.data.upload.choices import (
    DEFAULT_ID,
    MAX_NAME_LENGTH,
    TABLE_SUFFIXES,
    UPLOAD_SUFFIXES,
    CovariatesChoice,
    SourceChoice,
    Upload,
    UploadError,
    UploadSummary,
)
from crl.data.upload.inspection import SAMPLE_ROWS, inspect_upload
from crl.data.upload.names import check_modality_name, folder_name, suggested_modality
from crl.data.upload.reading import MAX_FILE_BYTES, MAX_UNPACKED_BYTES, MAX_ZIP_MEMBERS, MB, check_size

__all__ = [
    "DEFAULT_ID",
    "MAX_FILE_BYTES",
    "MAX_LATENTS",
    "MAX_NAME_LENGTH",
    "MAX_UNPACKED_BYTES",
    "MAX_ZIP_MEMBERS",
    "MB",
    "SAMPLE_ROWS",
    "TABLE_SUFFIXES",
    "UPLOAD_SUFFIXES",
    "CovariatesChoice",
    "SourceChoice",
    "Upload",
    "UploadError",
    "UploadSummary",
    "build_cohort",
    "check_modality_name",
    "check_size",
    "folder_name",
    "inspect_upload",
    "suggested_modality",
]
