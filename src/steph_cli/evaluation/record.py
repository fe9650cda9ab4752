"""The run record of an evaluation: the same payload as ``--json``, and a manifest naming the
sha256 of every model, label and split file it read, so a rerun can be compared byte for byte."""

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from steph_cli.evaluation.folds import FoldResult, model_path
from steph_cli.evaluation.summary import Paired, Summary
from steph_cli.models.io import sha256
from steph_cli.workspace.paths import Workspace
from steph_cli.workspace.runs import Run


def fold_dict(r: FoldResult) -> dict[str, object]:
    return {
        "target": r.target,
        "model": r.model,
        "fold": r.fold,
        "skipped": r.skipped,
        "n_test": r.n_test,
        "metrics": {k: v.as_dict() for k, v in r.metrics.items()},
    }


def payload(
    results: list[FoldResult], summaries: list[Summary], tests: list[Paired]
) -> dict[str, object]:
    return {
        "folds": [fold_dict(r) for r in results],
        "summary": [asdict(s) for s in summaries],
        "paired": [asdict(t) for t in tests],
    }


def record(
    ws: Workspace,
    results: list[FoldResult],
    content: dict[str, object],
    options: Mapping[str, object],
    seed: int,
) -> Path:
    targets = sorted({r.target for r in results})
    run = Run.start(ws, "evaluate", targets[0] if len(targets) == 1 else "all")
    run.write("config.json", options)
    run.write("metrics.json", content)
    inputs: dict[str, str] = {}
    for r in results:
        if r.skipped is None:
            inputs[f"{r.target}/{r.model}/fold{r.fold}"] = sha256(
                model_path(ws, r.target, r.model, r.fold)
            )
            inputs[f"{r.target}/split/fold{r.fold}"] = sha256(ws.split_file(r.target, r.fold))
    for t in targets:
        inputs[f"{t}/labels"] = sha256(ws.labels_file(t))
    run.manifest(options, inputs, seed)
    return run.directory
