"""Where everything lives in a workspace; the only module that builds workspace paths.

Names that become path components (cohorts, slides, methods) are validated here so that
nothing outside the workspace can ever be written from a name.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from steph_cli.errors import BadInputError, Fix, MissingArtefactError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# Slide ids are file stems: TCGA ids carry dots ("TCGA-AA-0001-01Z-00-DX1.5E2A..."); file
# names may not exceed 255 bytes, and ids become SLIDE_ID.h5 and .SLIDE_ID.h5.PID.tmp.
_SLIDE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def validate_name(name: str, what: str = "cohort name") -> str:
    """Return ``name`` if it is safe as a path component, else raise a one-line error."""
    if not _NAME.fullmatch(name or ""):
        raise BadInputError(
            f"invalid {what} {_shown(name)}: use up to 64 letters, digits, '-' and '_' "
            "(e.g. LUSC, my_cohort)"
        )
    return name


def validate_slide_id(slide_id: str, source: str = "") -> str:
    if not _SLIDE.fullmatch(slide_id or ""):
        where = f" in {source}" if source else ""
        raise BadInputError(
            f"invalid slide id {_shown(slide_id)}{where}: use up to 200 letters, digits, '.', "
            "'-' and '_'"
        )
    return slide_id


def _shown(name: str) -> str:
    return repr(name) if len(name or "") <= 40 else f"{name[:40]!r}… ({len(name)} characters)"


def default_root() -> Path:
    """``STEPH_WORKSPACE`` if set, else the platform's per-user data directory."""
    env = os.environ.get("STEPH_WORKSPACE")
    return Path(env) if env else Path(platformdirs.user_data_dir("steph"))


@dataclass(frozen=True)
class Workspace:
    """A workspace root and the layout of DESIGN.md below it."""

    root: Path

    @classmethod
    def at(cls, root: Path | None) -> "Workspace":
        path = (root if root is not None else default_root()).expanduser().absolute()
        if path.exists() and not path.is_dir():
            raise BadInputError(f"workspace {path} is a file; give a folder (new or existing)")
        return cls(path)

    @property
    def settings_file(self) -> Path:
        return self.root / "steph.toml"

    @property
    def init_file(self) -> Path:
        return self.root / "init.safetensors"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def cohort_dir(self, cohort: str) -> Path:
        return self.root / "cohorts" / validate_name(cohort)

    def labels_file(self, cohort: str) -> Path:
        return self.cohort_dir(cohort) / "labels.csv"

    def true_risk_file(self, cohort: str) -> Path:
        """The true log-hazard per patient, where it is known (synthetic cohorts only): what
        the oracle row of a study scores."""
        return self.cohort_dir(cohort) / "true_risk.csv"

    def splits_dir(self, cohort: str) -> Path:
        return self.cohort_dir(cohort) / "splits"

    def split_file(self, cohort: str, fold: int) -> Path:
        return self.splits_dir(cohort) / f"fold{int(fold)}.csv"

    def features_dir(self, cohort: str) -> Path:
        return self.root / "features" / validate_name(cohort)

    def feature_file(self, cohort: str, slide_id: str) -> Path:
        return self.features_dir(cohort) / f"{validate_slide_id(slide_id)}.h5"

    def expert_file(self, cohort: str, fold: int) -> Path:
        return self.root / "experts" / validate_name(cohort) / f"fold{int(fold)}.safetensors"

    def control_expert_file(self, cohort: str, fold: int) -> Path:
        """An expert trained on permuted labels (a null source for ``merge --control``): in
        its own folder, so that nothing looking for real experts ever finds it."""
        return (
            self.root
            / "controls"
            / "permuted"
            / validate_name(cohort)
            / f"fold{int(fold)}.safetensors"
        )

    def vector_file(self, cohort: str, fold: int) -> Path:
        return self.root / "vectors" / validate_name(cohort) / f"fold{int(fold)}.safetensors"

    def merged_file(self, target: str, method: str, fold: int) -> Path:
        return (
            self.root
            / "merged"
            / validate_name(target)
            / validate_name(method, "method name")
            / f"fold{int(fold)}.safetensors"
        )

    def find(self, path: Path, what: str = "file") -> Path:
        """``path`` as given if it exists, else relative to the workspace (the paths steph
        prints, such as merged/LUSC/steph/fold0.safetensors, work from any folder)."""
        path = Path(path).expanduser()
        if path.exists() or path.is_absolute():
            if not path.exists():
                raise BadInputError(f"{what} {path} does not exist")
            return path
        inside = self.root / path
        if inside.exists():
            return inside
        raise BadInputError(
            f"{what} {path} is neither in the current folder ({Path.cwd()}) nor in the "
            f"workspace ({self.root})"
        )

    def cohorts(self) -> list[str]:
        """Registered cohorts (those with a labels file), sorted by name."""
        base = self.root / "cohorts"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "labels.csv").is_file())

    def require_cohort(self, cohort: str) -> str:
        validate_name(cohort)
        if not self.labels_file(cohort).is_file():
            known = ", ".join(self.cohorts()) or "none yet"
            raise MissingArtefactError(
                f"unknown cohort {cohort!r} in workspace {self.root} (registered: {known})",
                Fix.run("cohort add", "add it: {}", name=cohort, labels="LABELS.csv"),
            )
        return cohort

    def folds(self, cohort: str) -> list[int]:
        """Fold indices that have a split file, sorted."""
        d = self.splits_dir(cohort)
        if not d.is_dir():
            return []
        found = (re.fullmatch(r"fold(\d+)\.csv", p.name) for p in d.iterdir())
        return sorted(int(m.group(1)) for m in found if m)


def remake(path: Path, text: str = "{} makes it again") -> Fix | None:
    """The step that makes the model file at ``path`` again, read from where it lies in a
    workspace (the layout above); None for a file of no workspace or one no step remakes
    alone. A fix that only said ``force`` would be wrong after the command that failed was
    already forced: a corrupt source expert is remade by ``train``, not by ``merge``."""
    parts = Path(path).parts
    fold = re.fullmatch(r"fold(\d+)\.safetensors", parts[-1]) if parts else None
    if parts and parts[-1] == "init.safetensors":
        return Fix.run(
            "train", "delete it; " + text + " with every expert", cancer="all", force=True
        )
    if fold is None or len(parts) < 3:
        return None
    k = int(fold.group(1))
    if parts[-3] == "experts":
        return Fix.run("train", text, cancer=parts[-2], fold=k, force=True)
    if parts[-3] == "vectors":
        return Fix.run("vector", text, cancer=parts[-2], fold=k, force=True)
    if len(parts) >= 4 and parts[-4] == "merged":
        method, _, control = parts[-2].partition("-control-")
        kind = {"control": control} if control else {}
        return Fix.run("merge", text, target=parts[-3], method=method, **kind, fold=k, force=True)
    return None
