"""The public Python API: one call per command, the same results as the shell.

Every function takes the workspace (a :class:`Workspace`, a path, or None for
``$STEPH_WORKSPACE`` / the user data folder) and, where work is long, ``hooks`` — the one
protocol through which progress and notes reach the caller (:class:`Hooks` does nothing;
:class:`TqdmHooks` draws tqdm bars). Errors are typed (``steph_cli.errors``). See
docs/api.md.
"""

from steph_cli import API
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
