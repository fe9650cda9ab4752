"""Build the demo workspace through the same library calls a user's commands make."""

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict

from steph_cli.demo.synthetic import TRUE_RISK, SyntheticConfig, generate, write_cohort
from steph_cli.errors import StaleArtefactError
from steph_cli.workspace import atomic, cohorts, settings
from steph_cli.workspace.paths import Workspace

SOURCE_DIR = "demo-data"
RECORD = "demo.json"


def build(
    ws: Workspace,
    config: SyntheticConfig,
    folds: int = 5,
    on_cohort: Callable[[str], None] | None = None,
) -> list[str]:
    """Generate the cohorts, register them (features linked) and split them; idempotent.

    The data's settings are recorded with it: running again with other settings is refused
    (the cohorts would not be what was asked for), never silently kept.
    """
    asked = json.loads(json.dumps({**asdict(config), "folds": folds}))
    record = ws.root / SOURCE_DIR / RECORD
    if record.is_file():
        built = json.loads(record.read_text())
        changed = [f"{k} {built.get(k)!r} → {v!r}" for k, v in asked.items() if built.get(k) != v]
        if changed:
            raise StaleArtefactError(
                f"{ws.root} holds a demo built with other settings ({'; '.join(changed)}); "
                "use another workspace for these"
            )
    settings.ensure(ws, seed=config.seed)
    first = not any(name in ws.cohorts() for name, _ in config.cancers)
    names = []
    for cohort in generate(config):
        if cohort.name not in ws.cohorts():
            src = write_cohort(cohort, ws.root / SOURCE_DIR / cohort.name)
            cohorts.add_cohort(
                ws, cohort.name, src / "labels.csv", features_dir=src / "features", link=True
            )
            cohorts.split_cohort(ws, cohort.name, folds, config.seed)
            with atomic.atomic_path(ws.true_risk_file(cohort.name)) as tmp:
                shutil.copy2(src / TRUE_RISK, tmp)
        names.append(cohort.name)
        if on_cohort:
            on_cohort(cohort.name)
    if first:  # the settings of data built now (a workspace from before they were kept has none)
        atomic.write_text(record, json.dumps(asked, indent=2, sort_keys=True) + "\n")
    return names
