"""The run record of an evaluation: the same payload as ``--json``, and a manifest naming the
sha256 of every model, labels, split and features it read, so a rerun can be compared byte for
byte."""

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from steph_cli.evaluation.folds import FoldResult, model_path
from steph_cli.evaluation.summary import Paired, Summary
from steph_cli.models import provenance
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
    results: list[FoldResult],
    summaries: list[Summary],
    tests: list[Paired],
    transfer: list[Paired],
) -> dict[str, object]:
    return {
        "folds": [fold_dict(r) for r in results],
        "summary": [asdict(s) for s in summaries],
        "paired": [asdict(t) for t in tests],
        "transfer": [asdict(t) for t in transfer],
    }


def record(
    ws: Workspace,
    results: list[FoldResult],
    content: dict[str, object],
    call: Mapping[str, object],
    seed: int,
) -> Path:
    """A run folder with the options (``call``), the payload as metrics.json, and a manifest
    of every model, labels, split and features it read."""
    targets = sorted({r.target for r in results})
    run = Run.start(ws, "evaluate", targets[0] if len(targets) == 1 else "all")
    run.write("config.json", call)
    run.write("metrics.json", content)
    keys: list[str] = []
    for r in results:
        if r.skipped is None:
            path = model_path(ws, r.target, r.model, r.fold)
            keys.append(provenance.relative(ws, path))
            keys.extend(provenance.fold_inputs(ws, r.target, r.fold))
            made_from = provenance.recorded(path)  # what its freshness was checked against
            keys.extend(made_from.inputs if made_from else [])
    inputs = provenance.now(ws, dict.fromkeys(keys), {}).inputs
    run.manifest(call, inputs, {}, seed)
    return run.directory
