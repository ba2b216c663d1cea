"""Cohort folders: manifest, loaders per modality kind, validation, synthetic generators."""

from crl.data.cohort import KINDS, Cohort, Modality, Normaliser
from crl.data.load import load_cohort
from crl.data.manifest import Problem
from crl.data.validate import ValidationReport, validate_cohort

__all__ = [
    "KINDS",
    "Cohort",
    "Modality",
    "Normaliser",
    "Problem",
    "ValidationReport",
    "load_cohort",
    "validate_cohort",
]
