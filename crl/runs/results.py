"""What a finished fit leaves in its run folder: the cohort's latents, the learned graph and the saved model,
with every latent turned to its canonical sign first.

One sequence for every way of training (`crl train` in a terminal, a background job, a torchrun job), so a run
folder holds the same files whichever started it.
"""

from __future__ import annotations

from crl.config import Config
from crl.core.model import CRLModel
from crl.data.cohort import Cohort, Normaliser
from crl.engine.encode import eta_table
from crl.engine.fit import latent_table
from crl.engine.orientation import orient
from crl.runs.checkpoint import save_model
from crl.runs.folder import RunFolder


def write_results(
    run: RunFolder, model: CRLModel, cohort: Cohort, config: Config, normaliser: Normaliser
) -> None:
    """Orient the latents (crl.engine.orientation, in place), then write latents.csv, eta.csv, graph.csv and
    the model files (checkpoint) into `run`."""
    latents, eta = orient(model, cohort, normaliser)
    run.write_latents(latent_table(model, cohort, latents))
    run.write_eta(eta_table(model, cohort, eta))
    run.write_graph(model.latent_names, model.strengths())
    save_model(run.path, model, config, normaliser, cohort)
