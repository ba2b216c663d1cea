"""What was uploaded and what the user said about it: the file, its summary, the user's choices per file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from crl.data.manifest import DEFAULT_LATENTS, MAX_MODALITY_NAME
from crl.errors import CrlError

MAX_NAME_LENGTH = MAX_MODALITY_NAME  # cohort and modality names alike

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
UPLOAD_SUFFIXES = (*TABLE_SUFFIXES, ".npz", ".zip")
DEFAULT_ID = "subject_id"


class UploadError(CrlError):
    """An uploaded file, or what the user said about it, cannot become a cohort; the message says what to do."""


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the name the user's computer gave it (never used as a path) and its bytes."""

    filename: str
    data: bytes = field(repr=False)

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.filename.replace("\\", "/")).suffix.lower()

    @property
    def stem(self) -> str:
        return PurePosixPath(self.filename.replace("\\", "/")).stem


@dataclass(frozen=True)
class UploadSummary:
    """What an uploaded file holds, for offering choices before the cohort is built.

    format: "table" (.csv/.parquet), "npz" or "zip" (of images).
    columns: a table's columns, an .npz's array names; empty for a zip.
    repeated_ids: the suggested ID column repeats within the rows read (a long time-series table).
    """

    filename: str
    format: str
    size: int
    columns: tuple[str, ...] = ()
    rows_read: int = 0
    n_images: int = 0
    kind: str = "tabular"
    id_column: str | None = None
    time_column: str | None = None
    repeated_ids: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceChoice:
    """What the user said one uploaded file is.

    id_column: the subject-ID column of a table (ignored for .npz and image zips, whose IDs are built in).
    time_column: the time column of a long time-series table.
    nan_policy / length_policy: written to the manifest when not "error" (see `validate_cohort`): what to do
    with missing values (tables, time series) and with series of unequal length (time series).
    """

    upload: Upload
    modality: str
    kind: str
    id_column: str | None = None
    time_column: str | None = None
    latents: int = DEFAULT_LATENTS
    nan_policy: str = "error"
    length_policy: str = "error"


@dataclass(frozen=True)
class CovariatesChoice:
    """The optional table of observed clinical variables and its subject-ID column."""

    upload: Upload
    id_column: str | None
