"""A synthetic multi-cancer generator whose cohorts are small, censored and related.

Each patch is a noisy copy of one of a few "phenotype" prototypes in feature space, plus a
cancer-specific offset (tissue of origin, as real encoders see it). A patient's risk is a
weighted sum of the shares of prognostic phenotypes in its slides:

- cancers of one *family* share prognostic phenotypes (three by default) with the same
  weights, so an expert of a related cancer knows what matters for the target;
- each cancer adds one prognostic phenotype of its own (weight ±``own_weight``);
- a cancer alone in its family (the unrelated one) shares nothing;
- background phenotypes, present everywhere, carry no risk.

Event times are exponential in the risk; independent uniform censoring leaves roughly two
thirds of patients censored, as in TCGA disease-specific survival.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from steph_cli.workspace import features as feature_store

DEFAULT_CANCERS: tuple[tuple[str, str], ...] = (
    ("BLCA", "squamous"),
    ("HNSC", "squamous"),
    ("LUSC", "squamous"),
    ("BRCA", "glandular"),
    ("LUAD", "glandular"),
    ("UCEC", "glandular"),
    ("KIRC", "renal"),
)
BACKGROUND = 4
SIGNS = (1.0, 1.0, -1.0)  # of the shared phenotypes' weights, repeated
DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class SyntheticConfig:
    cancers: tuple[tuple[str, str], ...] = DEFAULT_CANCERS
    patients: int = 90
    feature_dim: int = 64
    patches: tuple[int, int] = (40, 160)
    multi_slide_fraction: float = 0.3
    noise: float = 1.0
    risk_sd: float = 1.2
    median_survival_years: float = 4.0
    max_follow_up_years: float = 5.0
    seed: int = 0
    patients_per_cancer: dict[str, int] = field(default_factory=dict)
    shared_per_family: int = 3
    own_weight: float = 1.0


@dataclass
class SyntheticCohort:
    name: str
    family: str
    patients: list[str]
    times: np.ndarray  # days
    events: np.ndarray  # 1 event / 0 censored
    risks: np.ndarray  # the true log-hazard, for checking models
    slides: dict[str, list[np.ndarray]]  # patient -> one [N, D] array per slide


def _phenotype_layout(config: SyntheticConfig) -> tuple[dict[str, list[int]], dict[str, int], int]:
    families = sorted({f for _, f in config.cancers})
    k = config.shared_per_family
    shared = {f: list(range(i * k, (i + 1) * k)) for i, f in enumerate(families)}
    start = len(families) * k
    own = {name: start + i for i, (name, _) in enumerate(config.cancers)}
    return shared, own, start + len(config.cancers) + BACKGROUND


def generate(config: SyntheticConfig = SyntheticConfig()) -> list[SyntheticCohort]:
    """All cohorts of ``config``; the same config always gives the same arrays."""
    root = np.random.default_rng(config.seed)
    shared, own, n_pheno = _phenotype_layout(config)
    background = list(range(n_pheno - BACKGROUND, n_pheno))
    prototypes = root.normal(size=(n_pheno, config.feature_dim))
    family_weights = {
        f: root.uniform(1.0, 2.0, config.shared_per_family)
        * np.resize(SIGNS, config.shared_per_family)
        for f in sorted(shared)
    }
    streams = np.random.SeedSequence(config.seed).spawn(len(config.cancers))
    cohorts = []
    for (name, family), stream in zip(config.cancers, streams, strict=True):
        rng = np.random.default_rng(stream)
        offset = rng.normal(scale=0.5, size=config.feature_dim)
        present = [*shared[family], own[name], *background]
        weights = np.concatenate(
            [
                family_weights[family],
                [rng.choice([-1.0, 1.0]) * config.own_weight],
                np.zeros(BACKGROUND),
            ]
        )
        n = config.patients_per_cancer.get(name, config.patients)
        shares = rng.dirichlet(np.full(len(present), 0.7), size=n)
        raw = shares @ weights
        risks = (raw - raw.mean()) / (raw.std() + 1e-12) * config.risk_sd
        scale = config.median_survival_years * DAYS_PER_YEAR / np.log(2)
        event_t = rng.exponential(scale, size=n) * np.exp(-risks)
        censor_t = rng.uniform(0, config.max_follow_up_years * DAYS_PER_YEAR, size=n)
        times = np.maximum(np.round(np.minimum(event_t, censor_t)), 1.0)
        events = (event_t <= censor_t).astype(np.int64)
        patients = [f"{name}-{i:04d}" for i in range(n)]
        slides = {}
        for p, share in zip(patients, shares, strict=True):
            n_slides = 2 if rng.random() < config.multi_slide_fraction else 1
            bags = []
            for _ in range(n_slides):
                size = int(rng.integers(config.patches[0], config.patches[1] + 1))
                kinds = rng.choice(np.array(present), size=size, p=share)
                noise = rng.normal(scale=config.noise, size=(size, config.feature_dim))
                bags.append((prototypes[kinds] + offset + noise).astype(np.float32))
            slides[p] = bags
        cohorts.append(SyntheticCohort(name, family, patients, times, events, risks, slides))
    return cohorts


TRUE_RISK = "true_risk.csv"


def write_cohort(cohort: SyntheticCohort, directory: Path, encoder: str = "synthetic") -> Path:
    """Write ``labels.csv``, ``true_risk.csv`` (the oracle's risk) and ``features/SLIDE_ID.h5``
    (TRIDENT layout) under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    risks = "".join(f"{p},{r:.17g}\n" for p, r in zip(cohort.patients, cohort.risks, strict=True))
    (directory / TRUE_RISK).write_text("patient_id,risk\n" + risks)
    lines = ["patient_id,slide_id,t,e"]
    for p, t, e in zip(cohort.patients, cohort.times, cohort.events, strict=True):
        for j, bag in enumerate(cohort.slides[p]):
            slide_id = f"{p}-DX{j + 1}"
            lines.append(f"{p},{slide_id},{t:.0f},{e}")
            side = int(np.ceil(np.sqrt(len(bag))))
            grid = np.stack(np.divmod(np.arange(len(bag)), side), axis=1)[:, ::-1] * 256
            feature_store.write_features(
                directory / "features" / f"{slide_id}.h5",
                feature_store.SlideFeatures(
                    bag,
                    grid,
                    {
                        "patch_size": 256,
                        "patch_size_level0": 256,
                        "level0_magnification": 20,
                        "target_magnification": 20,
                        "encoder": encoder,
                        "name": slide_id,
                    },
                ),
            )
    (directory / "labels.csv").write_text("\n".join(lines) + "\n")
    return directory
