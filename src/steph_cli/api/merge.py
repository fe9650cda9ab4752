"""Merging task vectors into improved target models, with any registered method."""

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from steph_cli.api._common import WorkspaceLike, workspace_of
from steph_cli.errors import BadInputError, Fix, IncompatibleModelError, MissingArtefactError
from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.merging import methods
from steph_cli.merging.controls import CONTROLS, KINDS, SOURCELESS
from steph_cli.merging.methods.params import MethodParams
from steph_cli.merging.pool import load_pool
from steph_cli.merging.run import MergeResult
from steph_cli.models import io
from steph_cli.models.arch import ArchOptions
from steph_cli.tasks import execution as runner
from steph_cli.tasks import jobs
from steph_cli.tasks.execution import Execution
from steph_cli.tasks.graph import Report, Task
from steph_cli.training.config import MERGE_LR, TrainConfig
from steph_cli.workspace import selection, settings
from steph_cli.workspace.paths import Workspace, remake

if TYPE_CHECKING:
    import torch


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
    graph = _graph(
        ws,
        MergeSpec(target, sources, method, params, label, control),
        fold=fold,
        folds=folds,
        source_fold=source_fold,
        training=training,
        force=force,
        train_missing=train_missing,
        execution=execution,
        device=device,
    )
    hooks.note(graph.note)
    return _run(ws, [graph], execution, hooks)


@dataclass(frozen=True)
class MergeSpec:
    """One merge of :func:`merge_all`: what :func:`merge`'s first arguments say."""

    target: str = "all"
    sources: str = "all"
    method: str = "steph"
    params: MethodParams | dict[str, object] | None = None
    label: str | None = None
    control: str | None = None
    training: TrainConfig | None = None  # None: the call's


@dataclass(frozen=True)
class _Graph:
    tasks: list[Task]
    cohorts: list[str]  # every cohort the merges read
    train_missing: bool
    where: "torch.device"
    note: str


def _graph(
    ws: Workspace,
    spec: MergeSpec,
    *,
    fold: int | None,
    folds: str,
    source_fold: int,
    training: TrainConfig,
    force: bool,
    train_missing: bool,
    execution: Execution,
    device: str,
) -> _Graph:
    """The tasks of one merge spec; every refusal before any work."""
    chosen = methods.get(spec.method)
    checked = chosen.params(spec.params)
    if spec.control in CONTROLS and not chosen.uses_experts:
        raise BadInputError(
            f"{chosen.name} trains on the sources' patients, not their experts, so null-source "
            "controls do not apply; its matched-budget control does (train --like-merge)"
        )
    plans = plan(
        ws, spec.target, spec.sources, fold, folds, source_fold, not train_missing, spec.control
    )
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
        spec.label,
        spec.control,
    )
    name = chosen.name if spec.control is None else f"{chosen.name} ({spec.control} control)"
    return _Graph(
        tasks,
        sorted({c for t, s, _ in plans for c in (t, *s)}),
        train_missing,
        where,
        f"{name}: {len(plans)} merge(s) on {where} ({execution.describe()})",
    )


def _run(ws: Workspace, graphs: list[_Graph], execution: Execution, hooks: Hooks) -> Report:
    """Run the graphs' tasks as one graph: a task two of them share (a task vector, a
    control expert) once."""
    tasks = list({t.key: t for g in graphs for t in g.tasks}.values())
    if execution.parallel and jobs.prepare(
        ws,
        sorted({c for g in graphs for c in g.cohorts}),
        ArchOptions() if any(g.train_missing for g in graphs) else None,
    ):
        tasks = jobs.claim_init(tasks)
    report = runner.run(tasks, execution, graphs[0].where, hooks)
    for result in report.results(MergeResult):
        if result.skipped:
            hooks.note(f"{result.target} fold {result.fold}: {result.method} merge exists, skipped")
        for message in result.notes:
            hooks.warn(message)
    return report


def merge_all(
    workspace: WorkspaceLike,
    specs: list[MergeSpec],
    *,
    folds: str = "all",
    source_fold: int = 0,
    training: TrainConfig = TrainConfig(lr=MERGE_LR),
    execution: Execution = Execution(),
    device: str = "auto",
    hooks: Hooks = NO_HOOKS,
) -> Report:
    """Several merges (methods, targets, controls) as one task graph over ``folds``: with
    --jobs, no worker waits for the last merge of one method before the next starts.
    ``results(MergeResult)`` holds them all; a result's ``path.parent.name`` is its label."""
    ws = workspace_of(workspace)
    graphs = [
        _graph(
            ws,
            spec,
            fold=None,
            folds=folds,
            source_fold=source_fold,
            training=spec.training or training,
            force=False,
            train_missing=False,
            execution=execution,
            device=device,
        )
        for spec in specs
    ]
    for graph in graphs:
        hooks.note(graph.note)
    return _run(ws, graphs, execution, hooks)


def like_merge(
    workspace: WorkspaceLike = None,
    cancer: str = "all",
    method: str = "steph",
    *,
    fold: int | None = None,
    folds: str = "all",
    training: TrainConfig | dict[str, object] | None = None,
    force: bool = False,
    execution: Execution = Execution(),
    device: str = "auto",
    hooks: Hooks = NO_HOOKS,
    label: str | None = None,
) -> Report:
    """The matched-budget expert of a learned merge ``method``: the target's expert trained
    further on its own training patients with the merge's optimiser settings and number of
    updates, head and all — what the merge's own training does, with no source. Written as
    merged/NAME/LABEL-control-budget/, beside the merge it is compared with (``label``:
    the merges' folder, by default the method's name).

    The budget is read from the real merges' files (their recorded training options,
    seed included), so the control cannot silently differ from what it controls: a fold
    without the merge, merges trained differently, or ``training`` options (a
    ``TrainConfig``, or a dict of the options given) that disagree with the record are
    refused. Every fold (the default) means every fold that has the merge.
    """
    ws = workspace_of(workspace)
    chosen = methods.get(method)
    if not chosen.learned:
        raise BadInputError(
            f"{chosen.name} does not train, so there is no budget to match; use a learned "
            f"method ({', '.join(m.name for m in methods.all_methods() if m.learned)})"
        )
    name = label or chosen.name
    have, _ = selection.folds_having(
        ws,
        selection.cohorts(ws, cancer),
        fold,
        folds,
        lambda t, k: ws.merged_file(t, name, k).is_file(),
        lambda t, k: MissingArtefactError(
            f"no {name} merge of {t} fold {k}, so there is no budget to match",
            Fix.run("merge", target=t, method=chosen.name, fold=k),
        ),
    )
    recorded = _recorded_budget(ws, name, have)
    _agrees(recorded, training, name)
    reports = [
        merge(
            ws,
            target,
            "all",
            "finetune",
            fold=None,
            folds=",".join(str(k) for t, k in have if t == target),
            training=recorded,
            force=force,
            execution=execution,
            device=device,
            hooks=hooks,
            label=name,
            control="budget",
        )
        for target in dict.fromkeys(t for t, _ in have)
    ]
    return Report({k: o for r in reports for k, o in r.outcomes.items()})


def _recorded_budget(ws: Workspace, method: str, folds: list[tuple[str, int]]) -> TrainConfig:
    """The one training configuration every selected real merge recorded."""
    found: dict[TrainConfig, list[str]] = {}
    for target, k in folds:
        path = ws.merged_file(target, method, k)
        raw = io.read(path).json("training_config")
        if not isinstance(raw, dict):
            raise IncompatibleModelError(
                f"{path} records no training options, so its budget cannot be matched",
                remake(path, "remake it with this version of steph: {}"),
            )
        found.setdefault(TrainConfig(**raw), []).append(f"{target} fold {k}")
    if len(found) > 1:
        (a, where_a), (b, where_b) = list(found.items())[:2]
        differ = ", ".join(
            f"{name} {getattr(a, name)} ({where_a[0]}) vs {getattr(b, name)} ({where_b[0]})"
            for name in a.as_dict()
            if getattr(a, name) != getattr(b, name)
        )
        raise BadInputError(
            f"the {method} merges were trained differently ({differ}); match one at a time "
            "with --fold"
        )
    return next(iter(found))


def _agrees(
    recorded: TrainConfig, given: TrainConfig | dict[str, object] | None, method: str
) -> None:
    """Refuse options that would give the control another budget than the merge's."""
    if given is None:
        return
    options = given.as_dict() if isinstance(given, TrainConfig) else dict(given)
    differ = [
        f"{name.replace('_', '-')} {value} given, {getattr(recorded, name)} recorded"
        for name, value in options.items()
        if value is not None and value != getattr(recorded, name)
    ]
    if differ:
        raise BadInputError(
            f"the matched-budget control takes the {method} merge's own training options: "
            f"{'; '.join(differ)}; leave them out"
        )
