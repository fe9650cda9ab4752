"""The task graphs of ``train`` and ``merge`` (``extract``'s is one task per slide, built where
it runs, so that training never imports the slide readers).

The task functions are the library's own (``train_expert``, ``write_vector``,
``merging.run.merge``): module-level functions of plain arguments (paths, option
dataclasses), so Ray ships them by reference; their optional ``hooks`` are given only by the
local executor.
"""

from dataclasses import replace

import torch

from steph_cli.merging import controls
from steph_cli.merging.methods.params import MethodParams
from steph_cli.merging.run import merge
from steph_cli.merging.vectors import write_vector
from steph_cli.models.arch import ArchOptions
from steph_cli.tasks.graph import Task
from steph_cli.training.config import TrainConfig
from steph_cli.training.expert import train_control, train_expert
from steph_cli.workspace.paths import Workspace

# (target, sources, fold) of one merge
Plan = tuple[str, list[str], int]


def train_key(cohort: str, fold: int) -> str:
    return f"train {cohort} fold {fold}"


def vector_key(cohort: str, fold: int) -> str:
    return f"vector {cohort} fold {fold}"


def control_key(cohort: str, fold: int) -> str:
    return f"control {cohort} fold {fold}"


def prepare(ws: Workspace, cohorts: list[str], arch: ArchOptions | None) -> bool:
    """What parallel tasks would otherwise race to create: bag caches, and θ_init when
    experts of architecture ``arch`` are to be trained (an existing one is checked). True
    when θ_init was created now: :func:`claim_init` then gives it to a run's record."""
    from steph_cli.models import init as model_init
    from steph_cli.training.fold import workspace_bins
    from steph_cli.workspace import bags, settings
    from steph_cli.workspace import cohorts as ws_cohorts

    dim = None
    for cohort in cohorts:
        store = bags.open_store(ws, cohort, ws_cohorts.load_labels(ws, cohort))
        settings.set_feature_dim(ws, store.dim, f"features of {cohort}")
        dim = store.dim
    if dim is None or arch is None:
        return False
    created = not ws.init_file.is_file()
    built = model_init.architecture(ws, dim, workspace_bins(ws).count, arch)
    model_init.ensure(ws, built, settings.load(ws).seed)
    return created


def claim_init(tasks: list[Task]) -> list[Task]:
    """The tasks with the first expert's run recording θ_init as its output, as it does
    when it creates θ_init itself: a parallel run creates it beforehand (``prepare``), and
    without a run that wrote it, verify calls it unrecorded and a reproduction from the
    data alone has nothing to make it."""
    first = next((i for i, t in enumerate(tasks) if t.fn is train_expert), None)
    if first is None:
        return tasks
    task = tasks[first]
    claimed = replace(task, kwargs={**task.kwargs, "records_init": True})
    return [*tasks[:first], claimed, *tasks[first + 1 :]]


def train_tasks(
    ws: Workspace,
    jobs: list[tuple[str, int]],
    config: TrainConfig,
    arch: ArchOptions,
    device: torch.device,
    force: bool,
) -> list[Task]:
    return [
        Task(train_key(c, k), train_expert, (ws, c, k, config, arch, device, force))
        for c, k in jobs
    ]


def merge_tasks(
    ws: Workspace,
    plans: list[Plan],
    method: str,
    params: MethodParams,
    config: TrainConfig,
    device: torch.device,
    source_fold: int,
    force: bool,
    train_missing: tuple[TrainConfig, ArchOptions] | None = None,
    label: str | None = None,
    control: str | None = None,
) -> list[Task]:
    """experts (only missing ones, with ``train_missing``) → vectors → merges; a ``permuted``
    control trains each source's permuted-label expert (after its real one) instead of
    using its vector, and ``none``/``self`` controls need the target's expert alone."""
    targets = {(target, k): None for target, _, k in plans}
    sources = {(s, source_fold): None for _, names, _ in plans for s in names}
    needed = targets | ({} if control in controls.SOURCELESS else sources)
    tasks: list[Task] = []
    trained = set()
    for c, k in needed:
        if train_missing is not None and not ws.expert_file(c, k).is_file():
            expert_config, arch = train_missing
            tasks.append(
                Task(train_key(c, k), train_expert, (ws, c, k, expert_config, arch, device, False))
            )
            trained.add((c, k))

    def after(c: str, k: int) -> tuple[str, ...]:
        return (train_key(c, k),) if (c, k) in trained else ()

    for c, k in targets | ({} if control else sources):
        tasks.append(Task(vector_key(c, k), write_vector, (ws, c, k), after(c, k)))
    if control == "permuted":
        for c, k in sources:
            # a forced merge remakes the controls it uses
            control_args = (ws, c, k, device, force)
            tasks.append(Task(control_key(c, k), train_control, control_args, after(c, k)))
    for target, names, k in plans:
        if control is None:
            deps = (vector_key(target, k), *(vector_key(s, source_fold) for s in names))
        elif control == "permuted":
            deps = (vector_key(target, k), *(control_key(s, source_fold) for s in names))
        else:
            deps = (vector_key(target, k),)
        args = (ws, target, names, method, k, params, config, device, source_fold, force)
        name = controls.label(label or method, control) if control else label or method
        kwargs = {"label": label, "control": control}
        tasks.append(Task(f"merge {target} {name} fold {k}", merge, args, deps, kwargs))
    return tasks
