"""Real cohorts that ship inside Python packages, written as crl cohort folders (the optional `realdata` extra).

scikit-survival's breast-cancer study (`sksurv.datasets.load_breast_cancer`: the TRANSBIG validation series of
Desmedt et al. 2007, GEO GSE7390, 198 node-negative patients) becomes a two-modality cohort:

- `expression`: the 76 probes of Wang et al.'s 2005 prognostic signature (one tabular modality, 3 latents);
- `clinical`: age, oestrogen-receptor status, tumour grade and tumour size (a second tabular modality, 2 latents);
- covariates: time to distant metastasis and whether it was observed (shown beside the latents, not encoded).

The clinical variables are a modality rather than covariates because the method needs at least two modalities:
its graph, and what makes latents identifiable, are the links *between* modalities. The outcome stays a
covariate: it is what a user wants to relate the latents to, so the model must not be trained on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from crl.data.manifest import MANIFEST_FILE, manifest_text
from crl.errors import CrlError

INSTALL_HINT = "pip install 'crl[realdata]'"
CLINICAL = ("age", "er", "grade", "size")
# Every other column is an expression probe: an Affymetrix HG-U133A probe-set ID with R's "X" prefix.
GRADES = {"well differentiated": 1.0, "intermediate": 2.0, "poorly differentiated": 3.0}
ER_STATUS = {"negative": 0.0, "positive": 1.0}
EXPRESSION_LATENTS = 3
CLINICAL_LATENTS = 2
UNITS = {
    "age": "years at diagnosis",
    "er": "oestrogen-receptor status, 1 = positive, 0 = negative",
    "grade": "histological grade, 1 = well, 2 = intermediate, 3 = poorly differentiated",
    "size": "tumour diameter, cm",
    "time_to_metastasis_days": "days from surgery to distant metastasis, or to the last follow-up when none was seen",
    "metastasis": "1 = distant metastasis observed, 0 = censored (none seen by the last follow-up)",
}


def load_breast_cancer_frames() -> tuple[pd.DataFrame, np.ndarray]:
    """sksurv's breast-cancer data: `(features (198, 80) DataFrame, structured outcome (198,))`.

    Raises CrlError naming the extra to install when scikit-survival is missing.
    """
    try:
        from sksurv.datasets import load_breast_cancer
    except ImportError as error:
        raise CrlError(
            f"the breast-cancer example needs scikit-survival, which is not installed ({error}); "
            f"install it with: {INSTALL_HINT}"
        ) from None
    features, outcome = load_breast_cancer()
    return features, outcome


def write_breast_cancer(out: Path) -> Path:
    """Write the breast-cancer cohort folder to `out` (created; must be empty or absent) and return it."""
    features, outcome = load_breast_cancer_frames()
    return write_breast_cancer_frames(features, outcome, out)


def split_breast_cancer(
    features: pd.DataFrame, outcome: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """(expression, clinical, outcome table, notes), each table indexed by subject_id ("patient_001", …).

    Clinical categories become numbers (ER 0/1, grade 1-3); the two patients whose grade is recorded as
    "unkown" (sic) get the median grade, and `notes` says so. Expression columns are every non-clinical column.
    """
    missing = [c for c in CLINICAL if c not in features.columns]
    if missing:
        raise CrlError(
            f"the breast-cancer table lacks the clinical column(s) {', '.join(missing)}; "
            "expected sksurv.datasets.load_breast_cancer() output"
        )
    if len(outcome) != len(features):
        raise CrlError(f"{len(features)} patients but {len(outcome)} outcomes; the two must match row by row")
    names = outcome.dtype.names or ()
    if len(names) != 2:
        raise CrlError("the outcome must be a structured array (event indicator, time), as sksurv returns it")
    event_field, time_field = names
    ids = pd.Index([f"patient_{i + 1:03d}" for i in range(len(features))], name="subject_id")
    notes: list[str] = []

    expression_cols = [c for c in features.columns if c not in CLINICAL]
    expression = features[expression_cols].astype(float).set_axis(ids)
    if not np.isfinite(expression.to_numpy()).all():
        raise CrlError("the expression probes contain missing or infinite values")

    er = features["er"].astype(str).str.strip().str.lower().map(ER_STATUS)
    grade = features["grade"].astype(str).str.strip().str.lower().map(GRADES)
    clinical = pd.DataFrame(
        {
            "age": features["age"].astype(float).to_numpy(),
            "er": er.to_numpy(dtype=float),
            "grade": grade.to_numpy(dtype=float),
            "size": features["size"].astype(float).to_numpy(),
        },
        index=ids,
    )
    if clinical["er"].isna().any():
        bad = sorted(set(features["er"].astype(str)[clinical["er"].isna().to_numpy()]))
        raise CrlError(f"unknown ER status value(s) {bad}; expected positive or negative")
    unknown = clinical["grade"].isna()
    if unknown.any():
        fill = float(np.median(clinical.loc[~unknown, "grade"])) if (~unknown).any() else 2.0
        clinical.loc[unknown, "grade"] = fill
        notes.append(
            f"{int(unknown.sum())} patient(s) with an unknown grade ({', '.join(ids[unknown.to_numpy()])}) "
            f"got the median grade {fill:g}"
        )
    for column in ("age", "size"):
        if clinical[column].isna().any():
            raise CrlError(f"the clinical column '{column}' has missing values")

    table = pd.DataFrame(
        {
            "time_to_metastasis_days": np.asarray(outcome[time_field], dtype=float),
            "metastasis": np.asarray(outcome[event_field], dtype=bool).astype(int),
        },
        index=ids,
    )
    return expression, clinical, table, notes


def write_breast_cancer_frames(features: pd.DataFrame, outcome: np.ndarray, out: Path) -> Path:
    """The cohort folder from already loaded frames (what `write_breast_cancer` does after loading)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CrlError(f"{out} already exists and is not an empty folder; choose another folder or delete it")
    expression, clinical, table, notes = split_breast_cancer(features, outcome)
    out.mkdir(parents=True, exist_ok=True)
    expression.reset_index().to_csv(out / "expression.csv", index=False, float_format="%.6g")
    clinical.reset_index().to_csv(out / "clinical.csv", index=False, float_format="%.6g")
    table.reset_index().to_csv(out / "outcome.csv", index=False, float_format="%.6g")
    manifest = manifest_text(
        "breast-cancer",
        "subject_id",
        {
            "expression": {"kind": "tabular", "path": "expression.csv", "latents": EXPRESSION_LATENTS},
            "clinical": {"kind": "tabular", "path": "clinical.csv", "latents": CLINICAL_LATENTS},
        },
        covariates_path="outcome.csv",
    )
    (out / MANIFEST_FILE).write_text(manifest, encoding="utf-8")
    (out / "source.json").write_text(
        json.dumps(
            {
                "source": "sksurv.datasets.load_breast_cancer (scikit-survival)",
                "patients": len(expression),
                "probes": expression.shape[1],
                "notes": notes,
                "units": UNITS,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    (out / "README.md").write_text(_readme(expression, clinical, table, notes), encoding="utf-8")
    return out


def _readme(expression: pd.DataFrame, clinical: pd.DataFrame, table: pd.DataFrame, notes: list[str]) -> str:
    events = int(table["metastasis"].sum())
    lines = [
        "# Breast-cancer cohort (real data, from scikit-survival)",
        "",
        f"{len(expression)} patients with node-negative breast cancer; written by crl.data.realdata.",
        "",
        f"- `expression.csv`: {expression.shape[1]} gene-expression probes (the modality `expression`).",
        "- `clinical.csv`: the modality `clinical`:",
        *(f"  - `{c}`: {UNITS[c]}" for c in CLINICAL),
        f"- `outcome.csv`: covariates, not encoded ({events} metastases observed, the rest censored):",
        *(f"  - `{c}`: {UNITS[c]}" for c in ("time_to_metastasis_days", "metastasis")),
        "",
        "No ground truth exists for real data: `crl evaluate` cannot score a run on this cohort.",
        *([""] + [f"Note: {n}." for n in notes] if notes else []),
        "",
    ]
    return "\n".join(lines)
