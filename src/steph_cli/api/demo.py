"""The demo: a synthetic multi-cancer workspace, built and run end to end through the API."""

from dataclasses import dataclass, field

from steph_cli import threads
from steph_cli.api._common import WorkspaceLike, workspace_of
from steph_cli.api.evaluate import Evaluation, evaluate
from steph_cli.api.merge import MergeSpec, merge_all
from steph_cli.api.train import train
from steph_cli.demo import workspace as demo_ws
from steph_cli.demo.synthetic import DEFAULT_CANCERS, SyntheticConfig
from steph_cli.errors import BadInputError
from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.merging import methods
from steph_cli.merging.run import MergeResult
from steph_cli.models.arch import ArchOptions
from steph_cli.tasks.execution import Execution
from steph_cli.training.config import MERGE_LR, TrainConfig
from steph_cli.training.expert import ExpertResult
from steph_cli.workspace import settings

DEMO_METHODS = ("steph", "ada", "task-arithmetic")
# Each learned merge is made again from permuted-label sources, so the demo's last table is
# the transfer effect (real − permuted) beside the scores.
DEMO_CONTROL = "permuted"


@dataclass(frozen=True)
class DemoSize:
    """How big the demo is; chosen for run time alone (never for its results)."""

    cancers: int
    patients: int
    feature_dim: int
    folds: int
    epochs: int
    embed_dim: int
    attn_dim: int


# Under 3 minutes on 2 CPU cores: four cancers (three squamous sharing prognostic
# phenotypes, one glandular) and the paper's schedule on a half-width expert. The width was
# chosen by run time and by the experts' last-epoch validation C-index (20% of each fold's
# training patients held out; test patients not scored): 0.565 at 256/192 against 0.586 at
# 512/384 (5 minutes) and 0.534 at 64/32.
QUICK = DemoSize(
    cancers=4, patients=90, feature_dim=64, folds=3, epochs=20, embed_dim=256, attn_dim=192
)
# The full demo: all seven cancers at METHOD's architecture and schedule (15–25 minutes).
FULL = DemoSize(
    cancers=len(DEFAULT_CANCERS),
    patients=90,
    feature_dim=64,
    folds=3,
    epochs=20,
    embed_dim=512,
    attn_dim=384,
)


# The transfer benchmark (docs/results.md, "Transfer"): 150 patients per cancer, families
# that share six prognostic phenotypes and their weights (each cancer's own phenotype weighs
# 0.3), a wider spread of true risk and ten years of follow-up, so that the true risk's
# C-index leaves room above an expert trained on 30 patients, and the family's patients can
# fill it (the positive control). Five folds give the power calculation its pairs.
TRANSFER = DemoSize(
    cancers=len(DEFAULT_CANCERS),
    patients=150,
    feature_dim=64,
    folds=5,
    epochs=20,
    embed_dim=128,
    attn_dim=64,
)
TRANSFER_DATA: dict[str, object] = {
    "shared_per_family": 6,
    "own_weight": 0.3,
    "risk_sd": 2.0,
    "max_follow_up_years": 10.0,
    "patches": (20, 60),
}
SCENARIOS = {"quick": (QUICK, {}), "full": (FULL, {}), "transfer": (TRANSFER, TRANSFER_DATA)}


@dataclass
class Demo:
    cohorts: list[str]
    experts: list[ExpertResult] = field(default_factory=list)
    merged: dict[str, list[MergeResult]] = field(default_factory=dict)
    evaluation: Evaluation | None = None  # None when only the data was built


def demo(
    workspace: WorkspaceLike = None,
    *,
    patients: int = QUICK.patients,
    cancers: int = QUICK.cancers,
    feature_dim: int = QUICK.feature_dim,
    folds: int = QUICK.folds,
    epochs: int = QUICK.epochs,
    embed_dim: int = QUICK.embed_dim,
    attn_dim: int = QUICK.attn_dim,
    data_only: bool = False,
    scenario: str = "quick",
    seed: int | None = None,
    execution: Execution | None = None,
    device: str = "auto",
    hooks: Hooks = NO_HOOKS,
) -> Demo:
    """Build the synthetic cohorts (``patients`` each, ``cancers`` of the built-in seven,
    ``folds`` splits; ``scenario`` "transfer" draws the transfer benchmark's cohorts);
    train every cohort's expert on every fold; merge each cohort as the target with all
    others as sources (steph, ada, task-arithmetic; the learned ones also from permuted-label
    sources, the control of transfer); evaluate everything. Finished steps are reused when
    run again on the same workspace. By default (``execution`` None) every idle CPU runs
    one task of one thread: the demo's models are small, and two threads on one of them
    take as long as one (measured: 5 min 58 s either way on 2 CPUs), while two processes
    halve the time."""
    if scenario not in SCENARIOS:
        raise BadInputError(f"scenario {scenario!r}: use one of {', '.join(SCENARIOS)}")
    ws = workspace_of(workspace)
    settings.ensure(ws, seed=seed)
    seed = settings.resolve_seed(ws, seed)
    config = SyntheticConfig(
        cancers=DEFAULT_CANCERS[:cancers],
        patients=patients,
        feature_dim=feature_dim,
        seed=seed,
        **SCENARIOS[scenario][1],  # type: ignore[arg-type]
    )
    hooks.bar("cohorts", cancers, "cohorts")
    names = demo_ws.build(ws, config, folds, on_cohort=lambda name: hooks.advance("cohorts"))
    hooks.note(f"demo workspace ready at {ws.root}")
    result = Demo(names)
    if data_only:
        return result
    if execution is None:
        execution = Execution(jobs=threads.idle_cpus(), threads=1)
    trained = train(
        ws,
        training=TrainConfig(epochs=epochs, seed=seed),
        arch=ArchOptions(embed_dim, attn_dim),
        execution=execution,
        device=device,
        hooks=hooks,
    )
    trained.raise_failures()
    result.experts = trained.results(ExpertResult)
    specs = [  # one graph: with several jobs no worker idles between methods
        MergeSpec(method=method, control=control)
        for method in DEMO_METHODS  # each merge graph also writes the task vectors it uses
        for control in ((None, DEMO_CONTROL) if methods.get(method).learned else (None,))
    ]
    report = merge_all(
        ws,
        specs,
        training=TrainConfig(epochs=epochs, lr=MERGE_LR, seed=seed),
        execution=execution,
        device=device,
        hooks=hooks,
    )
    report.raise_failures()
    for merged in report.results(MergeResult):
        result.merged.setdefault(merged.path.parent.name, []).append(merged)
    result.evaluation = evaluate(ws, seed=seed, device=device, hooks=hooks)
    return result
