"""Build the demo workspace through the same library calls a user's commands make."""

from collections.abc import Callable

from steph_cli.demo.synthetic import SyntheticConfig, generate, write_cohort
from steph_cli.workspace import cohorts, settings
from steph_cli.workspace.paths import Workspace

SOURCE_DIR = "demo-data"


def build(
    ws: Workspace,
    config: SyntheticConfig,
    folds: int = 5,
    on_cohort: Callable[[str], None] | None = None,
) -> list[str]:
    """Generate the cohorts, register them (features linked) and split them; idempotent."""
    settings.ensure(ws, seed=config.seed)
    names = []
    for cohort in generate(config):
        if cohort.name not in ws.cohorts():
            src = write_cohort(cohort, ws.root / SOURCE_DIR / cohort.name)
            cohorts.add_cohort(
                ws, cohort.name, src / "labels.csv", features_dir=src / "features", link=True
            )
            cohorts.split_cohort(ws, cohort.name, folds, config.seed)
        names.append(cohort.name)
        if on_cohort:
            on_cohort(cohort.name)
    return names
