"""What a finished fit leaves in its run folder: the cohort's latents, the learned graph and the saved model,
with every latent turned to its canonical sign first.

One sequence for every way of training (`crl train` in a terminal, a background job, a torchrun job), so a run
folder holds the same files whichever started it.
"""

from __future__ import annotations

import numpy as np

from crl.config import Config
from crl.core.model import CRLModel
from crl.data.cohort import Cohort, Normaliser
from crl.data.features import observed_features, top_features
from crl.engine.encode import eta_table
from crl.engine.fit import latent_table
from crl.engine.orientation import orient
from crl.graphs.names import split_latent_name
from crl.runs.checkpoint import save_model
from crl.runs.files import DRIVERS_FILE, INFERRED_COLUMN, atomic_write_json
from crl.runs.folder import RunFolder


def write_drivers(run_dir, latents, cohort: Cohort) -> None:
    """drivers.json: each latent's three most correlated summary features of its modality, as [label, r] pairs
    (crl.data.features), so the dashboard's hover text needs no cohort loading. A latent is compared over the
    subjects that have its modality only (the others' values are inferred, their features missing)."""
    features, owners = observed_features(cohort)
    if cohort.incomplete_modalities():
        latents = latents.astype(float)
        modality = [split_latent_name(str(c))[0] for c in latents.columns]
        for name in cohort.incomplete_modalities():
            columns = [c for c, m in zip(latents.columns, modality, strict=True) if m == name]
            latents.loc[~cohort.presence(name), columns] = np.nan
    found = top_features(latents, features, owners) if features.shape[1] and len(latents) >= 10 else {}
    atomic_write_json(
        run_dir / DRIVERS_FILE, {"drivers": {k: [[f, r] for f, r in v] for k, v in found.items()}}
    )


def write_results(
    run: RunFolder, model: CRLModel, cohort: Cohort, config: Config, normaliser: Normaliser
) -> None:
    """Orient the latents (crl.engine.orientation, in place), then write latents.csv, eta.csv, drivers.json,
    graph.csv and the model files (checkpoint) into `run`. When some subject lacks a modality, latents.csv
    gains the `inferred` column naming, per subject, the modalities whose latents were inferred (and eta.csv
    holds the prior mean, 0, for their eta)."""
    latents, eta = orient(model, cohort, normaliser)
    table = latent_table(model, cohort, latents)
    inferred = cohort.incomplete_modalities()
    run.write_latents(table.assign(**{INFERRED_COLUMN: cohort.lacking()}) if inferred else table)
    run.write_eta(eta_table(model, cohort, eta))
    write_drivers(run.path, table.set_index("subject_id"), cohort)
    run.write_graph(model.latent_names, model.strengths())
    save_model(run.path, model, config, normaliser, cohort)
