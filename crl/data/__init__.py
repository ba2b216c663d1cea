"""Cohort folders: manifest, loaders per modality kind, validation, synthetic generators."""

from crl.data.cohort import KINDS, Cohort, Modality, Normaliser

__all__ = ["KINDS", "Cohort", "Modality", "Normaliser"]
