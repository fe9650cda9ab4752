"""Training the cancer-specific experts: one task per (cohort, fold)."""

from steph_cli.api._common import WorkspaceLike, workspace_of
from steph_cli.errors import StephError
from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.models.arch import ArchOptions
from steph_cli.tasks import execution as runner
from steph_cli.tasks import jobs
from steph_cli.tasks.execution import Execution
from steph_cli.tasks.graph import Report
from steph_cli.training.config import TrainConfig
from steph_cli.training.expert import ExpertResult, check_bins, fresh
from steph_cli.workspace import selection, settings
from steph_cli.workspace.paths import Workspace


def train(
    workspace: WorkspaceLike = None,
    cancer: str = "all",
    *,
    fold: int | None = None,
    folds: str = "all",
    training: TrainConfig = TrainConfig(),
    arch: ArchOptions = ArchOptions(),
    time_bins: int | None = None,
    max_time_days: float | None = None,
    force: bool = False,
    execution: Execution = Execution(),
    device: str = "auto",
    hooks: Hooks = NO_HOOKS,
) -> Report:
    """Train the expert of each selected (cohort, fold): experts/NAME/fold{K}.safetensors.

    ``cancer`` is a cohort, a comma list or ``all``; ``fold`` one fold or ``folds`` a list
    (``all``, ``0,2``). Every expert starts from the workspace's shared initialisation; the
    architecture is θ_init's where it exists (``arch`` may only agree with it), and the seed
    the workspace's unless ``training.seed`` is given. Finished experts are skipped unless
    ``force``. Returns every task's outcome; ``results(ExpertResult)`` are the experts, and
    failures are reported there (a failing task is retried once), not raised.
    """
    ws = workspace_of(workspace)
    names = selection.cohorts(ws, cancer)
    work = [(name, k) for name in names for k in selection.folds(ws, name, fold, folds)]
    check_bins(ws, time_bins, max_time_days)
    config = training.resolved(settings.resolve_seed(ws, training.seed))
    done = execution.parallel and not force and _all_fresh(ws, work, config, arch)
    if done:  # each task would only report its skip: not worth starting workers or Ray
        execution = Execution()
    where = execution.device(device)
    hooks.note(
        f"{len(work)} expert(s) exist and match their inputs, so no workers were started"
        if done
        else f"training {len(work)} expert(s) on {where} ({execution.describe()})"
    )
    # every cohort's features are read (and cached) before the first expert trains, so a bad
    # file of the last cohort stops the run before it writes anything
    created = jobs.prepare(ws, names, arch if execution.parallel else None)
    tasks = jobs.train_tasks(ws, work, config, arch, where, force)
    if created:
        tasks = jobs.claim_init(tasks)
    report = runner.run(tasks, execution, where, hooks)
    for result in report.results(ExpertResult):
        if result.skipped:
            hooks.note(
                f"{result.cohort} fold {result.fold}: expert exists, skipped (force redoes it)"
            )
    return report


def _all_fresh(
    ws: Workspace, work: list[tuple[str, int]], config: TrainConfig, arch: ArchOptions
) -> bool:
    try:
        return all(fresh(ws, c, k, config, arch) for c, k in work)
    except StephError:
        return False  # an expert made otherwise: its task reports it, as any failure
