"""steph: cross-cancer survival prognosis from whole-slide images by model merging (STEPH).

The public API (``steph_cli.train``, ``steph_cli.merge``, ``steph_cli.evaluate``, ...; see
docs/api.md) is imported on first use, so that the command line starts without loading torch.
"""

from typing import Any

__version__ = "0.1.0"

# The calls and result types of ``steph_cli.api`` (its ``__all__``), each with the module of
# that package that defines it (imported on first use).
API = {
    "Demo": "demo",
    "Evaluation": "evaluate",
    "ExtractReport": "extract",
    "Imported": "cohorts",
    "Inventory": "status",
    "Reproduction": "runs",
    "RunRecord": "runs",
    "Splits": "cohorts",
    "StudyReport": "study",
    "Verification": "runs",
    "Vectors": "vectors",
    "add_cohort": "cohorts",
    "cohort": "cohorts",
    "demo": "demo",
    "evaluate": "evaluate",
    "extract": "extract",
    "import_features": "cohorts",
    "like_merge": "merge",
    "list_cohorts": "cohorts",
    "list_runs": "runs",
    "merge": "merge",
    "open_workspace": "cohorts",
    "predict": "predict",
    "report_study": "study",
    "reproduce": "runs",
    "run_study": "study",
    "show_run": "runs",
    "split_cohort": "cohorts",
    "status": "status",
    "train": "train",
    "vectors": "vectors",
    "verify": "runs",
}
# The option and hook types a caller builds, by defining module.
_TYPES = {
    "ArchOptions": "steph_cli.models.arch",
    "Execution": "steph_cli.tasks.execution",
    "ExtractOptions": "steph_cli.slides.extract",
    "Hooks": "steph_cli.hooks",
    "StephError": "steph_cli.errors",
    "TqdmHooks": "steph_cli.hooks",
    "TrainConfig": "steph_cli.training.config",
    "Workspace": "steph_cli.workspace",
}
__all__ = ["__version__", *API, *_TYPES]


def __dir__() -> list[str]:
    """The API first, so that a notebook's tab completion offers it before it is loaded."""
    return sorted({*__all__, "__version__"})


def __getattr__(name: str) -> Any:
    import importlib

    if name in API:
        return getattr(importlib.import_module("steph_cli.api"), name)
    if name in _TYPES:
        return getattr(importlib.import_module(_TYPES[name]), name)
    raise AttributeError(f"module 'steph_cli' has no attribute {name!r}")
