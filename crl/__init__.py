"""crl: causal representation learning from multimodal biomedical observations (Sun et al., ICLR 2025)."""

from crl.data import Cohort, Modality, Normaliser
from crl.errors import CohortError, ConfigError, CrlError, RunError, TrainingError

__version__ = "0.1.0"

__all__ = [
    "Cohort",
    "CohortError",
    "ConfigError",
    "CrlError",
    "Modality",
    "Normaliser",
    "RunError",
    "TrainingError",
    "__version__",
]
