"""Synthetic multimodal cohorts with known latents and latent graph (docs/method.md §5); see README.md here."""

from crl.data.synthetic.cohort import SyntheticCohort, SyntheticModality
from crl.data.synthetic.dag import sample_dag
from crl.data.synthetic.generator import generate
from crl.data.synthetic.presets import PRESETS, PresetSpec, describe_presets
from crl.data.synthetic.writer import write_cohort, write_preset

__all__ = [
    "PRESETS",
    "PresetSpec",
    "SyntheticCohort",
    "SyntheticModality",
    "describe_presets",
    "generate",
    "sample_dag",
    "write_cohort",
    "write_preset",
]
