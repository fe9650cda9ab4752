"""Merging task vectors into improved target models, with any registered method."""

from dataclasses import replace

from steph_cli.api._common import WorkspaceLike, workspace_of
from steph_cli.errors import BadInputError, Fix, MissingArtefactError
from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.merging import methods
from steph_cli.merging.controls import CONTROLS, KINDS, SOURCELESS
from steph_cli.merging.methods.base import MethodParams
from steph_cli.merging.pool import load_pool
from steph_cli.merging.run import MergeResult
from steph_cli.models.arch import ArchOptions
from steph_cli.tasks import execution as runner
from steph_cli.tasks import jobs
from steph_cli.tasks.execution import Execution
from steph_cli.tasks.graph import Report
from steph_cli.training.config import MERGE_LR, TrainConfig
from steph_cli.workspace import selection, settings
from steph_cli.workspace.paths import Workspace


def plan(
    ws: Workspace,
    target: str,
    sources: str,
    fold: int | None,
    folds: str,
    source_fold: int,
    check_experts: bool = True,
    control: str | None = None,
) -> list[jobs.Plan]:
    """(target, sources, fold) of every merge asked for; every refusal before any work.

    With ``target`` ``all`` each cohort in turn is the target and all others its sources, so
    a source list is refused rather than ignored. Without ``check_experts`` (experts still
    to be trained) each merge task checks its experts when it runs.
    """
    if target == "all" and sources != "all":
        raise BadInputError(
            f"sources {sources} with every cohort as target: each target takes all other "
            "cohorts as its sources; name one target to choose its sources"
        )
    plans: list[jobs.Plan] = []
    for name in selection.cohorts(ws, target):
        names = selection.sources(ws, name, sources)
        plans.extend((name, names, k) for k in selection.folds(ws, name, fold, folds))
    if control is not None and control not in KINDS:
        raise BadInputError(f"control {control!r}: use {', '.join(CONTROLS)}")
    if check_experts:
        needed = {(t, k) for t, _, k in plans}
        if control not in SOURCELESS:  # a permuted control copies the real ones' options
            needed |= {(s, source_fold) for _, ss, _ in plans for s in ss}
        missing = sorted(f"{c} fold {k}" for c, k in needed if not ws.expert_file(c, k).is_file())
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise MissingArtefactError(
                f"the merges need experts that are not trained yet: {missing[0]}{more}",
                Fix.set("train_missing", "{} trains them first"),
            )
        for name, names, k in plans:
            load_pool(ws, name, names, k, source_fold, None if control == "permuted" else control)
    return plans


def merge(
    workspace: WorkspaceLike = None,
    target: str = "all",
    sources: str = "all",
    method: str = "steph",
    *,
    params: MethodParams | dict[str, object] | None = None,
    fold: int | None = None,
    folds: str = "all",
    source_fold: int = 0,
    training: TrainConfig = TrainConfig(lr=MERGE_LR),
    force: bool = False,
    train_missing: bool = False,
    execution: Execution = Execution(),
    device: str = "auto",
    hooks: Hooks = NO_HOOKS,
    label: str | None = None,
    control: str | None = None,
) -> Report:
    """Merge each selected target fold's expert with the source experts (fold
    ``source_fold``): merged/TARGET/METHOD/fold{K}.safetensors.

    ``method`` is any registered method (``methods.names()``); ``params`` its parameters (an
    instance of its ``Params`` or a dict of the ones to change; names of other methods are
    refused). Learned methods train with ``training`` on the fold's train patients of the
    target. The work is a task graph — experts (only missing ones, with ``train_missing``, on
    this merge's schedule at the experts' learning rate) → task vectors → merges.
    ``results(MergeResult)`` are the merges; failures are reported in the returned outcomes,
    not raised. ``label`` names the output folder (merged/TARGET/LABEL/) instead of the
    method, e.g. for a grid point. ``control`` (permuted, none, self) makes the same merge
    from null sources, into merged/TARGET/LABEL-control-KIND/ (``merging.controls``).
    """
    ws = workspace_of(workspace)
    chosen = methods.get(method)
    checked = chosen.params(params)
    if control in CONTROLS and not chosen.uses_experts:
        raise BadInputError(
            f"{chosen.name} trains on the sources' patients, not their experts, so null-source "
            "controls do not apply; its matched-budget control does (train --like-merge)"
        )
    plans = plan(ws, target, sources, fold, folds, source_fold, not train_missing, control)
    config = training.resolved(settings.resolve_seed(ws, training.seed))
    where = execution.device(device)
    # missing experts: this merge's schedule and seed, the experts' own learning rate
    expert_settings = (
        (replace(config, lr=TrainConfig().lr), ArchOptions()) if train_missing else None
    )
    tasks = jobs.merge_tasks(
        ws,
        plans,
        chosen.name,
        checked,
        config,
        where,
        source_fold,
        force,
        expert_settings,
        label,
        control,
    )
    hooks.note(f"{chosen.name}: {len(plans)} merge(s) on {where} ({execution.describe()})")
    if execution.parallel:
        jobs.prepare(
            ws,
            sorted({c for t, s, _ in plans for c in (t, *s)}),
            ArchOptions() if train_missing else None,
        )
    report = runner.run(tasks, execution, where, hooks)
    for result in report.results(MergeResult):
        if result.skipped:
            hooks.note(f"{result.target} fold {result.fold}: {result.method} merge exists, skipped")
        for message in result.notes:
            hooks.warn(message)
    return report


def like_merge(
    workspace: WorkspaceLike = None,
    cancer: str = "all",
    method: str = "steph",
    *,
    fold: int | None = None,
    folds: str = "all",
    training: TrainConfig = TrainConfig(lr=MERGE_LR),
    force: bool = False,
    execution: Execution = Execution(),
    device: str = "auto",
    hooks: Hooks = NO_HOOKS,
) -> Report:
    """The matched-budget expert of a learned merge ``method``: the target's expert trained
    further on its own training patients with the merge's optimiser settings and number of
    updates (``training``: the merge's learning rate, epochs, accumulation), head and all —
    what the merge's own training does, with no source. Written as
    merged/NAME/METHOD-control-budget/, beside the merge it is compared with.
    """
    chosen = methods.get(method)
    if not chosen.learned:
        raise BadInputError(
            f"{chosen.name} does not train, so there is no budget to match; use a learned "
            f"method ({', '.join(m.name for m in methods.all_methods() if m.learned)})"
        )
    return merge(
        workspace,
        cancer,
        "all",
        "finetune",
        fold=fold,
        folds=folds,
        training=training,
        force=force,
        execution=execution,
        device=device,
        hooks=hooks,
        label=chosen.name,
        control="budget",
    )
