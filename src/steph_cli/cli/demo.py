"""``steph demo``: a synthetic multi-cancer workspace, built and run end to end."""

import time
from typing import Annotated

import typer

from steph_cli.cli import completion, render
from steph_cli.cli.common import State, command, emit_json, examples, note
from steph_cli.cli.progress import RichHooks
from steph_cli.demo.synthetic import DEFAULT_CANCERS
from steph_cli.errors import BadInputError

EPILOG = examples(
    "steph demo",
    "steph demo --full   # the 7-cancer, 90-patient demo",
    "steph --workspace ws demo --data-only --full   # the data only, for a study:",
    "steph --workspace ws study run docs/demo-study.toml",
    "steph --workspace tw demo --scenario transfer --data-only",
    "steph --workspace tw study run docs/transfer-study.toml",
)


@command
def demo(
    state: State,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="The full demo: 7 cancers and the paper's expert (E 512, A 384), 15–25 min "
            "on 2 cores, instead of 4 cancers and a half-width expert (E 256, A 192), under 3 "
            "min.",
            metavar="",
        ),
    ] = False,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="transfer: the transfer benchmark's cohorts (7 cancers of 150 patients, "
            "families sharing six prognostic phenotypes; docs/results.md) \\[default: quick, "
            "or full with --full].",
            show_default=False,
            **completion.one_of("quick", "full", "transfer"),
        ),
    ] = None,
    patients: Annotated[
        int | None, typer.Option(help="Patients per cancer \\[default: 90].", show_default=False)
    ] = None,
    cancers: Annotated[
        int | None,
        typer.Option(
            help="How many of the 7 synthetic cancers \\[default: 4; --full: 7].",
            min=2,
            max=len(DEFAULT_CANCERS),
            show_default=False,
        ),
    ] = None,
    feature_dim: Annotated[
        int | None,
        typer.Option(help="Patch feature dimension \\[default: 64].", min=4, show_default=False),
    ] = None,
    folds: Annotated[
        int | None,
        typer.Option(help="Cross-validation folds \\[default: 3].", min=2, show_default=False),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            help="Training epochs of every model \\[default: 20].",
            min=1,
            show_default=False,
        ),
    ] = None,
    data_only: Annotated[
        bool, typer.Option("--data-only", help="Only build the workspace.", metavar="")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Processes of one thread each \\[default: the CPUs idle now].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Build a synthetic multi-cancer workspace and run the whole pipeline on it (no data).

    Builds the cohorts; trains every cohort's expert on every fold; writes task vectors;
    merges each cohort as the target with all others as sources (steph, ada,
    task-arithmetic); ends with `steph evaluate --target all --model all`. Finished steps
    are reused when run again on the same workspace; a workspace built with other demo
    settings is refused.
    """
    from dataclasses import asdict

    from steph_cli import api
    from steph_cli.api.demo import SCENARIOS
    from steph_cli.tasks.execution import Execution

    started = time.perf_counter()
    given = {
        "patients": patients,
        "cancers": cancers,
        "feature_dim": feature_dim,
        "folds": folds,
        "epochs": epochs,
    }
    scenario = scenario or ("full" if full else "quick")
    if full and scenario != "full":
        raise BadInputError(f"--full and --scenario {scenario}: give one of them")
    if scenario not in SCENARIOS:
        raise BadInputError(f"--scenario {scenario}: use one of {', '.join(SCENARIOS)}")
    base = SCENARIOS[scenario][0]
    size = {**asdict(base), **{k: v for k, v in given.items() if v is not None}}
    with RichHooks(state) as hooks:
        result = api.demo(
            state.ws,
            **size,
            data_only=data_only,
            scenario=scenario,
            execution=None if jobs is None else Execution(jobs=jobs, threads=1),
            seed=state.seed,
            device=state.device,
            hooks=hooks,
        )
    if state.json:
        emit_json(
            {
                "experts": [r.to_json() for r in result.experts],
                "merged": {m: [r.to_json() for r in rs] for m, rs in result.merged.items()},
                "evaluation": result.evaluation.to_json() if result.evaluation else None,
            }
        )
        return
    render.status(state)
    if result.evaluation is not None:
        ev = result.evaluation
        render.evaluation(ev.summary, ev.paired, ev.transfer)
    note(state, f"demo finished in {time.perf_counter() - started:.0f} s")
