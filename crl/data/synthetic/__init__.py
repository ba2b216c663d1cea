"""Synthetic multimodal cohorts with known latents and latent graph (METHOD.md §5); see README.md here."""

from crl.data.synthetic.cohort import SyntheticCohort, SyntheticModality
from crl.data.synthetic.dag import is_acyclic, make_blocks, sample_dag
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
    "is_acyclic",
    "make_blocks",
    "sample_dag",
    "write_cohort",
    "write_preset",
]
