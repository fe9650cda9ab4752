"""The public Python API: one call per command, the same results as the shell.

Every function takes the workspace (a :class:`Workspace`, a path, or None for
``$STEPH_WORKSPACE`` / the user data folder) and, where work is long, ``hooks`` — the one
protocol through which progress and notes reach the caller (:class:`Hooks` does nothing;
:class:`TqdmHooks` draws tqdm bars). Errors are typed (``steph_cli.errors``). See
docs/api.md.

Each call's module is imported on first use: ``steph cohort list`` need not load torch and
scikit-survival, which ``evaluate`` and ``demo`` do.
"""

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

from steph_cli import API

if TYPE_CHECKING:
    from steph_cli.api.cohorts import (
        Imported,
        Splits,
        add_cohort,
        cohort,
        import_features,
        list_cohorts,
        open_workspace,
        split_cohort,
    )
    from steph_cli.api.demo import Demo, demo
    from steph_cli.api.evaluate import Evaluation, evaluate
    from steph_cli.api.extract import ExtractReport, extract
    from steph_cli.api.merge import like_merge, merge
    from steph_cli.api.predict import predict
    from steph_cli.api.runs import (
        Reproduction,
        RunRecord,
        Verification,
        list_runs,
        reproduce,
        show_run,
        verify,
    )
    from steph_cli.api.status import Inventory, status
    from steph_cli.api.study import StudyReport, report_study, run_study
    from steph_cli.api.train import train
    from steph_cli.api.vectors import Vectors, vectors

__all__ = list(API)


class _Calls(ModuleType):
    """This package, keeping each call's name for the call: importing the submodule
    ``steph_cli.api.train`` would otherwise set the package's ``train`` to that module."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in API and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Calls


def __getattr__(name: str) -> Any:
    if name not in API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{API[name]}"), name)
    globals()[name] = value  # found once, then an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
