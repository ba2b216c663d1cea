"""The demo cohort: a semi-synthetic look-alike of a phenotype study (sleep test, both fundi, clinical table).

Modelled on the Human Phenotype Project analysis of the paper (docs/method.md §8): a three-night home sleep test
and left and right fundus photographs, three latents each, plus observed clinical covariates. Latents follow
a fixed, documented causal graph whose cross-modal part passes the component-wise identifiability check
(docs/method.md §5b); covariates are parents (age, sex, BMI, HbA1c inputs) or children (blood pressure, grip
strength) of latents. Real-world untidiness is built in and recorded in truth/artefacts.csv: a few subjects
lack a modality, some sleep recordings lost a night, and some photographs are blurred, dark or dusty.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr

from crl.data.synthetic import retina, sleep
from crl.data.synthetic.cohort import SyntheticCohort, SyntheticModality, subject_ids
from crl.data.synthetic.presets import PresetSpec
from crl.data.truth import Truth

MODALITIES = ("sleep", "fundus_left", "fundus_right")
EYES = ("fundus_left", "fundus_right")
COVARIATES = (
    "age",
    "sex",
    "bmi",
    "grip_strength_left",
    "grip_strength_right",
    "hba1c",
    "systolic_bp",
    "diastolic_bp",
)
COVARIATE_UNITS = {
    "age": "years (40-70 at the visit)",
    "sex": "0 = female, 1 = male",
    "bmi": "body-mass index, kg/m²",
    "grip_strength_left": "kg, best of three squeezes of a hand dynamometer, left hand",
    "grip_strength_right": "kg, same, right hand",
    "hba1c": "% glycated haemoglobin (6.5 or more suggests diabetes)",
    "systolic_bp": "mmHg, seated",
    "diastolic_bp": "mmHg, seated",
}
# What cohort.toml calls each covariate on screen, and its unit (short: the long form is in COVARIATE_UNITS).
COVARIATE_LABELS = {
    "age": {"label": "Age", "unit": "years"},
    "sex": {"label": "Sex (0 female, 1 male)"},
    "bmi": {"label": "Body-mass index", "unit": "kg/m²"},
    "grip_strength_left": {"label": "Grip strength, left hand", "unit": "kg"},
    "grip_strength_right": {"label": "Grip strength, right hand", "unit": "kg"},
    "hba1c": {"label": "HbA1c", "unit": "%"},
    "systolic_bp": {"label": "Systolic blood pressure", "unit": "mmHg"},
    "diastolic_bp": {"label": "Diastolic blood pressure", "unit": "mmHg"},
}
# The display keys of each modality's table in cohort.toml (docs/cohort-format.md, "Labels and units").
MODALITY_LABELS = {
    "sleep": {"label": "Home sleep test", "time_step": sleep.TIME_STEP, "channels": sleep.LABELS},
    "fundus_left": {"label": "Left eye photograph"},
    "fundus_right": {"label": "Right eye photograph"},
}

# latent -> (plain name, what it is and what it does to the data)
LATENTS: dict[str, tuple[str, str]] = {
    "sleep.z0": (
        "apnea severity",
        "breathing events per hour of sleep: each one dips SpO2 and ends in a snoring burst",
    ),
    "sleep.z1": (
        "sleep fragmentation",
        "how often sleep is broken by movement arousals: actigraphy bursts and a more variable heart rate",
    ),
    "sleep.z2": ("resting heart rate", "the level of the nightly heart rate"),
}
for _eye, _side in (("fundus_left", "left"), ("fundus_right", "right")):
    LATENTS[f"{_eye}.z0"] = (f"vessel calibre ({_side} eye)", "width of the retinal vessels")
    LATENTS[f"{_eye}.z1"] = (f"vessel tortuosity ({_side} eye)", "how much the retinal vessels wiggle")
    LATENTS[f"{_eye}.z2"] = (
        f"cup-to-disc ratio ({_side} eye)",
        "size of the pale cup inside the optic disc (large cups suggest glaucoma)",
    )

# The true latent graph (source, target). Cross-modal edges run from sleep to the eyes: systemic effects that
# show in the retina. Each sleep latent reaches one latent in each eye, so every latent keeps its own
# cross-modal footprint and is identifiable one by one.
LATENT_EDGES: tuple[tuple[str, str], ...] = (
    ("sleep.z0", "sleep.z1"),  # apneas end in arousals
    ("sleep.z0", "sleep.z2"),  # repeated hypoxia raises sympathetic tone
    ("sleep.z0", "fundus_left.z2"),  # sleep apnea is a risk factor for glaucomatous cupping
    ("sleep.z0", "fundus_right.z2"),
    ("sleep.z1", "fundus_left.z1"),  # arousals bring night-time blood-pressure surges
    ("sleep.z1", "fundus_right.z1"),
    ("sleep.z2", "fundus_left.z0"),  # a faster resting heart rate goes with wider retinal venules
    ("sleep.z2", "fundus_right.z0"),
    ("fundus_left.z0", "fundus_left.z1"),  # wider vessels are more tortuous
    ("fundus_right.z0", "fundus_right.z1"),
)

# Edges with a covariate at one end (source, target), as generated.
COVARIATE_EDGES: tuple[tuple[str, str], ...] = (
    ("age", "bmi"),
    ("sex", "bmi"),
    ("bmi", "sleep.z0"),
    ("sex", "sleep.z0"),
    ("age", "fundus_left.z0"),  # retinal vessels narrow with age
    ("age", "fundus_right.z0"),
    ("age", "hba1c"),
    ("bmi", "hba1c"),
    ("age", "systolic_bp"),
    ("sex", "systolic_bp"),
    ("bmi", "systolic_bp"),
    ("sleep.z0", "systolic_bp"),  # sleep apnea raises blood pressure
    ("systolic_bp", "diastolic_bp"),
    ("bmi", "diastolic_bp"),
    ("age", "grip_strength_left"),
    ("sex", "grip_strength_left"),
    ("bmi", "grip_strength_left"),
    ("fundus_right.z0", "grip_strength_left"),  # the paper's right-eye <-> left-hand grip link
    ("grip_strength_left", "grip_strength_right"),  # one person's two hands: right generated from left
)

MISSING_MODALITY_RATE = 0.015
MISSING_NIGHT_RATE = 0.04
BLUR_RATE, DARK_RATE, DUST_RATE = 0.02, 0.02, 0.04
SLEEP_ETA = ("oximeter baseline", "timing of the night", "microphone gain")
EYE_ETA = ("illumination", "pigmentation", "rotation", "horizontal offset", "vertical offset", "camera noise")


class DemoModel:
    """The demo's structural model: covariates, then latents from their parents (fixed mechanisms).

    `adjacency[i, j]` True means latent i -> latent j, latents in `names` order (as `StructuralModel`).
    """

    def __init__(self) -> None:
        self.names: list[str] = list(LATENTS)
        index = {name: i for i, name in enumerate(self.names)}
        self.adjacency = np.zeros((len(index), len(index)), dtype=bool)
        for source, target in LATENT_EDGES:
            self.adjacency[index[source], index[target]] = True

    @property
    def blocks(self) -> dict[str, list[int]]:
        return {m: [i for i, name in enumerate(self.names) if name.startswith(f"{m}.")] for m in MODALITIES}

    def sample_covariates(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """Age, sex and BMI: the covariates with no latent parent. `(n, 3)`."""
        age = 40.0 + 30.0 * rng.beta(1.4, 1.6, n)
        male = (rng.random(n) < 0.48).astype(float)
        bmi = np.exp(np.log(26.0) + 0.003 * (age - 55) + 0.04 * male + 0.15 * rng.standard_normal(n))
        return pd.DataFrame({"age": age, "sex": male, "bmi": np.clip(bmi, 17.0, 50.0)})

    def sample_latents(
        self, root: pd.DataFrame, rng: np.random.Generator, do: dict[str, float] | None = None
    ) -> np.ndarray:
        """Latents `(n, 9)` in `names` order given age/sex/BMI; `do` fixes latents (a hard intervention)."""
        n = len(root)
        age = (root["age"].to_numpy() - 55.0) / 8.5
        bmi = (np.log(root["bmi"].to_numpy()) - np.log(26.5)) / 0.15
        sex = 2.0 * root["sex"].to_numpy() - 1.0
        noise = rng.standard_normal((n, len(self.names)))
        do = do or {}
        z: dict[str, np.ndarray] = {}

        def set_(name: str, value: np.ndarray) -> None:
            z[name] = np.full(n, float(do[name])) if name in do else value

        set_("sleep.z0", 0.5 * bmi + 0.3 * sex + 0.81 * noise[:, 0])
        set_("sleep.z1", 0.55 * np.tanh(1.2 * z["sleep.z0"]) / 0.68 + 0.835 * noise[:, 1])
        set_("sleep.z2", 0.4 * z["sleep.z0"] + 0.917 * noise[:, 2])
        cupping = (z["sleep.z0"] + 0.25 * (z["sleep.z0"] ** 2 - 1.0)) / 1.06  # worse at the severe end
        for k, eye in enumerate(EYES):
            e = noise[:, 3 + 3 * k : 6 + 3 * k]
            set_(f"{eye}.z0", 0.55 * z["sleep.z2"] - 0.45 * age + 0.703 * e[:, 0])
            set_(f"{eye}.z1", 0.55 * z["sleep.z1"] + 0.25 * z[f"{eye}.z0"] + 0.78 * e[:, 1])
            set_(f"{eye}.z2", 0.6 * cupping + 0.8 * e[:, 2])
        return np.stack([z[name] for name in self.names], axis=1)

    def sample_clinical(self, root: pd.DataFrame, z: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """Every covariate `(n, 8)`, in the units of `COVARIATE_UNITS`, rounded as a clinic records them."""
        n = len(root)
        age, male, bmi = (root[c].to_numpy() for c in ("age", "sex", "bmi"))
        latent = {name: z[:, i] for i, name in enumerate(self.names)}
        diabetic = rng.random(n) < 0.03 + 0.04 * ndtr((bmi - 30.0) / 4.0)
        hba1c = 5.3 + 0.012 * (age - 55) + 0.03 * (bmi - 26.5) + 0.28 * rng.standard_normal(n)
        hba1c += diabetic * rng.uniform(0.9, 3.0, n)
        systolic = (
            120.0
            + 0.55 * (age - 55)
            + 4.0 * male
            + 0.9 * (bmi - 26.5)
            + 3.5 * latent["sleep.z0"]
            + 11.0 * rng.standard_normal(n)
        )
        systolic = np.clip(systolic, 88.0, 210.0)
        diastolic = np.clip(
            24.0 + 0.42 * systolic + 0.35 * (bmi - 26.5) + 6.0 * rng.standard_normal(n), 48.0, 125.0
        )
        diastolic = np.minimum(diastolic, systolic - 20.0)
        strength = np.where(male > 0, 42.0, 26.0) * (1.0 - np.where(male > 0, 0.008, 0.007) * (age - 55))
        left = (
            strength
            + 0.25 * (bmi - 26.5)
            + 2.2 * latent["fundus_right.z0"]
            + np.where(male > 0, 5.5, 3.8) * rng.standard_normal(n)
        )
        left = np.clip(left, 6.0, 80.0)
        right = np.clip(1.06 * left + 3.5 * rng.standard_normal(n), 6.0, 85.0)
        return pd.DataFrame(
            {
                "age": np.round(age, 1),
                "sex": male.astype(int),
                "bmi": np.round(bmi, 1),
                "grip_strength_left": np.round(left, 1),
                "grip_strength_right": np.round(right, 1),
                "hba1c": np.round(np.clip(hba1c, 4.2, 13.0), 1),
                "systolic_bp": np.round(systolic).astype(int),
                "diastolic_bp": np.round(diastolic).astype(int),
            }
        )

    def sample(
        self, n: int, rng: np.random.Generator, do: dict[int, float] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """`(z, covariates)` like `StructuralModel.sample`: latents `(n, 9)`, age/sex/BMI `(n, 3)`."""
        root = self.sample_covariates(n, rng)
        named = {self.names[i]: v for i, v in (do or {}).items()}
        return self.sample_latents(root, rng, named), root.to_numpy()


def generate_demo(spec: PresetSpec, seed: int) -> SyntheticCohort:
    """The demo cohort in memory: `spec.n` subjects, deterministic in (n, seed)."""
    n = spec.n
    streams = np.random.SeedSequence(seed).spawn(7)
    cov_rng, latent_rng, clinic_rng, eta_rng, sleep_rng, eye_rng, mess_rng = (
        np.random.default_rng(s) for s in streams
    )
    ids = subject_ids(n)
    model = DemoModel()
    root = model.sample_covariates(n, cov_rng)
    z = model.sample_latents(root, latent_rng)
    covariates = model.sample_clinical(root, z, clinic_rng)
    covariates.index = pd.Index(ids, name="subject_id")
    latent = {name: z[:, i] for i, name in enumerate(model.names)}

    eta = {"sleep": eta_rng.standard_normal((n, 3))}
    for eye in EYES:
        eta[eye] = eta_rng.standard_normal((n, 6))
    values = sleep.render_sleep(
        latent["sleep.z0"], latent["sleep.z1"], latent["sleep.z2"], eta["sleep"], sleep_rng
    )
    images = {
        eye: retina.render_fundus(
            latent[f"{eye}.z0"], latent[f"{eye}.z1"], latent[f"{eye}.z2"], eta[eye], side, eye_rng
        )
        for eye, side in zip(EYES, ("left", "right"), strict=True)
    }

    artefacts: list[tuple[str, str, str, str]] = []
    present = _drop_modalities(ids, mess_rng, artefacts)
    _lose_nights(values, ids, present["sleep"], mess_rng, artefacts)
    for eye in EYES:
        _spoil_photos(images[eye], ids, present[eye], eye, mess_rng, artefacts)

    modalities = {
        "sleep": SyntheticModality(
            "sleep",
            "timeseries",
            values[present["sleep"]],
            list(sleep.CHANNELS),
            3,
            subject_ids=ids[present["sleep"]],
        )
    }
    for eye in EYES:
        modalities[eye] = SyntheticModality(
            eye, "image", images[eye][present[eye]], list(retina.CHANNELS), 3, subject_ids=ids[present[eye]]
        )

    index = pd.Index(ids, name="subject_id")
    eta_names = [f"sleep.eta{k}" for k in range(3)] + [f"{eye}.eta{k}" for eye in EYES for k in range(6)]
    truth = Truth(
        latents=pd.DataFrame(z, index=index, columns=model.names),
        edges=list(LATENT_EDGES),
        nuisance=pd.DataFrame(
            np.concatenate([eta[m] for m in MODALITIES], axis=1), index=index, columns=eta_names
        ),
    )
    extra = {
        "latent_names": pd.DataFrame(
            [(k, name, text) for k, (name, text) in LATENTS.items()],
            columns=["latent", "name", "description"],
        ),
        "covariate_graph": pd.DataFrame(list(COVARIATE_EDGES), columns=["source", "target"]),
        "nuisance_names": pd.DataFrame(
            [(f"sleep.eta{k}", text) for k, text in enumerate(SLEEP_ETA)]
            + [(f"{eye}.eta{k}", text) for eye in EYES for k, text in enumerate(EYE_ETA)],
            columns=["nuisance", "name"],
        ),
        "artefacts": pd.DataFrame(artefacts, columns=["subject_id", "modality", "artefact", "detail"]),
    }
    return SyntheticCohort(
        preset=spec.name,
        seed=seed,
        spec=spec,
        subject_ids=ids,
        modalities=modalities,
        truth=truth,
        model=model,  # type: ignore[arg-type]  # same `.adjacency` / `.sample` surface as StructuralModel
        covariates=covariates,
        extra_truth=extra,
        readme=cohort_readme(n, seed, artefacts),
        # deflate, not bzip2: 9 MB more on disk, but the dashboard decodes the demo in 0.3 s instead of 2.1 s,
        # which is the wait on a presenter's first Cohort or Model page.
        npz_compression="deflate",
        labels={"modalities": MODALITY_LABELS, "covariates": COVARIATE_LABELS},
    )


def _drop_modalities(ids: np.ndarray, rng: np.random.Generator, artefacts: list) -> dict[str, np.ndarray]:
    """Which subjects each modality holds `(n,)` bool: about 1.5 % of subjects lack one modality entirely."""
    n = len(ids)
    present = {m: np.ones(n, dtype=bool) for m in MODALITIES}
    count = int(round(MISSING_MODALITY_RATE * n))
    if n >= 20:
        count = max(count, 1)  # even a small test cohort shows the situation
    for subject in np.sort(rng.choice(n, size=count, replace=False)):
        modality = MODALITIES[int(rng.integers(len(MODALITIES)))]
        present[modality][subject] = False
        artefacts.append((ids[subject], modality, "missing_modality", "no data for this modality"))
    return present


def _lose_nights(
    values: np.ndarray, ids: np.ndarray, has: np.ndarray, rng: np.random.Generator, artefacts: list
) -> None:
    """About 4 % of recordings lost one night, exported as a flat line (see sleep.flatline_night)."""
    candidates = np.flatnonzero(has)
    count = int(round(MISSING_NIGHT_RATE * len(candidates)))
    subjects = np.sort(rng.choice(candidates, size=count, replace=False))
    nights = rng.integers(0, sleep.NIGHTS, count)
    sleep.flatline_night(values, subjects, nights)
    for subject, night in zip(subjects, nights, strict=True):
        artefacts.append((ids[subject], "sleep", "flat_night", f"night {night + 1} not recorded (flat line)"))


def _spoil_photos(
    images: np.ndarray, ids: np.ndarray, has: np.ndarray, eye: str, rng: np.random.Generator, artefacts: list
) -> None:
    """In place: a few photographs are out of focus, under-exposed or show dust on the optics."""
    candidates = np.flatnonzero(has)
    order = rng.permutation(candidates)
    k_blur, k_dark = int(round(BLUR_RATE * len(order))), int(round(DARK_RATE * len(order)))
    k_dust = int(round(DUST_RATE * len(order)))
    blurred = np.sort(order[:k_blur])
    dark = np.sort(order[k_blur : k_blur + k_dark])
    # Dust is independent of the other faults: a dusty lens can also be out of focus.
    dusty = np.sort(rng.choice(candidates, size=k_dust, replace=False)) if k_dust else np.array([], dtype=int)
    if len(blurred):
        images[blurred] = retina.blur(images[blurred], sigma=1.1)
    if len(dark):
        images[dark] = retina.darken(images[dark], rng.uniform(0.4, 0.6, len(dark)))
    if len(dusty):
        images[dusty] = retina.dust(images[dusty], rng)
    for kind, rows in (("blurred", blurred), ("dark", dark), ("dust", dusty)):
        for subject in rows:
            artefacts.append((ids[subject], eye, kind, _ARTEFACT_TEXT[kind]))


_ARTEFACT_TEXT = {
    "blurred": "photograph out of focus",
    "dark": "photograph under-exposed",
    "dust": "dust specks on the camera optics",
}


def cohort_readme(n: int, seed: int, artefacts: list) -> str:
    """The README.md written into the cohort folder: what each file holds, units, the true graph."""
    counts: dict[str, int] = {}
    for _, modality, kind, _ in artefacts:
        counts[f"{modality}:{kind}"] = counts.get(f"{modality}:{kind}", 0) + 1
    names = {k: v[0] for k, v in LATENTS.items()}

    def label(node: str) -> str:
        return f"{node} ({names[node]})" if node in names else node

    lines = [
        "# Demo cohort: a semi-synthetic phenotype study",
        "",
        f"{n} simulated subjects (seed {seed}), modelled on the Human Phenotype Project analysis of Sun et al.",
        "(ICLR 2025). No real person's data is in it. Written by `crl synth demo`.",
        "",
        "## Files",
        "",
        "- `sleep.npz`: home sleep test, `values` (subjects, 4 channels, 144): three nights of 48 ten-minute",
        "  epochs (8 hours each) one after the other. Channels:",
        *(f"  - `{c}`: {u}" for c, u in sleep.UNITS.items()),
        "- `fundus_left.npz`, `fundus_right.npz`: colour fundus photographs, `images` (subjects, 64, 64, 3) uint8,",
        "  macula-centred; the optic disc is on the viewer's left in a left eye and on the right in a right eye.",
        "- `clinical.csv`: observed covariates (not encoded by the model; shown beside the latents):",
        *(f"  - `{c}`: {u}" for c, u in COVARIATE_UNITS.items()),
        "- `truth/latents.csv`, `truth/graph.csv`: the true latents and latent graph;",
        "  `truth/latent_names.csv`: plain names; `truth/covariate_graph.csv`: links with a covariate at one end;",
        "  `truth/nuisance.csv` + `truth/nuisance_names.csv`: the per-modality nuisance;",
        "  `truth/artefacts.csv`: every deliberate imperfection, per subject.",
        "",
        "## Imperfections on purpose",
        "",
        f"- {sum(v for k, v in counts.items() if k.endswith(':missing_modality'))} subjects lack one modality"
        " entirely (absent from its file): `crl validate` reports them and training leaves them out.",
        f"- {counts.get('sleep:flat_night', 0)} sleep recordings lost a night: the device exported that night as a",
        "  flat line at the subject's median of the other nights.",
        *(
            f"- {eye}: {counts.get(f'{eye}:blurred', 0)} blurred, {counts.get(f'{eye}:dark', 0)} under-exposed,"
            f" {counts.get(f'{eye}:dust', 0)} dusty photographs."
            for eye in EYES
        ),
        "",
        "## True latent graph",
        "",
        *(f"- {label(s)} -> {label(t)}" for s, t in LATENT_EDGES),
        "",
        "## Links with covariates",
        "",
        *(f"- {label(s)} -> {label(t)}" for s, t in COVARIATE_EDGES),
        "",
    ]
    return "\n".join(lines)
