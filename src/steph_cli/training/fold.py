"""One cohort's fold as training data: its bags, labels, bins, the loss step and evaluation.

Experts and learned merges both train on a cohort's fold through these, so the data path,
the survival loss and the test metric are the same code for every model.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from steph_cli.hooks import Hooks
from steph_cli.survival import curves
from steph_cli.survival.bins import TimeBins
from steph_cli.survival.loss import nll_loss
from steph_cli.survival.metrics import Metric, harrell_cindex
from steph_cli.training.config import TrainConfig
from steph_cli.training.loop import StepFn, fit
from steph_cli.workspace import bags, cohorts, settings
from steph_cli.workspace.labels import Labels
from steph_cli.workspace.paths import Workspace
from steph_cli.workspace.runs import Run
from steph_cli.workspace.splits import read_fold

# A model's forward for training: bag -> (hazard logits [T], extra loss or None, terms to log)
Forward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None, dict[str, float]]]


def workspace_bins(ws: Workspace) -> TimeBins:
    s = settings.load(ws)
    return TimeBins(s.time_bins, s.max_time_days)


@dataclass
class FoldData:
    cohort: str
    fold: int
    store: bags.BagStore
    train: Labels
    test: Labels
    bins: TimeBins
    device: torch.device

    def step(self, forward: Forward, alpha_u: float) -> StepFn:
        """The loss of training bag ``i``: NLL of METHOD §2 plus the model's extra terms."""
        y = torch.as_tensor(self.bins.index(self.train.times), device=self.device)
        e = torch.as_tensor(self.train.events, device=self.device)

        def step(i: int) -> tuple[torch.Tensor, dict[str, float]]:
            logits, extra, terms = forward(self.store.tensor(self.train.patients[i], self.device))
            nll = nll_loss(logits.unsqueeze(0), y[i : i + 1], e[i : i + 1], alpha_u)
            if extra is None:
                return nll, terms
            return nll + extra, {"nll": nll.item(), **terms}

        return step

    def fit(
        self,
        named_params: list[tuple[str, torch.nn.Parameter]],
        forward: Forward,
        config: TrainConfig,
        run: Run,
        hooks: Hooks,
        label: str,
        annotate: Callable[[dict[str, float]], dict[str, float]] | None = None,
    ) -> list[dict[str, float]]:
        """Train on this fold's train bags with the shared loop: the ``train`` bar of
        ``hooks`` (one step per bag), and one log line per epoch (``annotate`` may add to or
        check each epoch's record first)."""

        def on_epoch(record: dict[str, float]) -> None:
            record = annotate(record) if annotate else record
            run.log("epoch", **record)
            hooks.status(
                "train", f"epoch {record['epoch']:.0f}/{config.epochs} loss {record['loss']:.4f}"
            )

        hooks.bar("train", config.epochs * len(self.train), label)
        return fit(
            named_params,
            len(self.train),
            self.step(forward, config.alpha_u),
            config,
            item_name=lambda i: f"patient {self.train.patients[i]}",
            on_step=lambda: hooks.advance("train"),
            on_epoch=on_epoch,
        )

    def logits(self, logits_of: Callable[[torch.Tensor], torch.Tensor], patients) -> torch.Tensor:  # type: ignore[no-untyped-def]
        """Hazard logits [patients, T]; the caller sets eval mode."""
        with torch.no_grad():
            return torch.stack([logits_of(self.store.tensor(p, self.device)) for p in patients])

    def risks(self, logits_of: Callable[[torch.Tensor], torch.Tensor], patients) -> np.ndarray:  # type: ignore[no-untyped-def]
        """Risk scores (−Σ S_j) of ``patients``."""
        return curves.risk(self.logits(logits_of, patients)).cpu().numpy().astype(np.float64)

    def test_cindex(self, logits_of: Callable[[torch.Tensor], torch.Tensor]) -> Metric:
        risk = self.risks(logits_of, self.test.patients)
        return harrell_cindex(self.test.events, self.test.times, risk)


def load(ws: Workspace, cohort: str, fold: int, device: torch.device) -> FoldData:
    labels = cohorts.load_labels(ws, cohort)
    split = read_fold(ws.split_file(cohort, fold), fold, labels)
    store = bags.open_store(ws, cohort, labels)
    settings.set_feature_dim(ws, store.dim, f"features of {cohort}")
    return FoldData(
        cohort,
        fold,
        store,
        labels.subset(split.train),
        labels.subset(split.test),
        workspace_bins(ws),
        device,
    )
