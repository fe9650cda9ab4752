"""One cohort's fold as training data: its bags, labels, bins, the loss step and evaluation.

Experts and learned merges both train on a cohort's fold through these, so the data path,
the survival loss and the test metric are the same code for every model.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from statistics import median
from typing import Protocol

import numpy as np
import torch
from torch import nn

from steph_cli.errors import BadInputError, Fix, RunFailedError
from steph_cli.hooks import Hooks
from steph_cli.models.abmil import ABMIL
from steph_cli.models.merged import ScalarMerge
from steph_cli.models.packed import abmil_packed, scalar_packed
from steph_cli.survival import curves
from steph_cli.survival.bins import TimeBins
from steph_cli.survival.loss import nll_loss, nll_losses
from steph_cli.survival.metrics import Metric, harrell_cindex
from steph_cli.training.config import TrainConfig
from steph_cli.training.loop import GroupFn, StepFn, fit
from steph_cli.workspace import bags, cohorts, settings
from steph_cli.workspace.labels import Labels
from steph_cli.workspace.paths import Workspace
from steph_cli.workspace.runs import Run
from steph_cli.workspace.splits import read_fold

# A model's forward for training: bag -> (hazard logits [T], extra loss or None, terms to log)
Forward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None, dict[str, float]]]
# Several bags in one pass (``models.packed``) -> (hazard logits [B, T], each bag's extra loss
# [B] or None, terms to log summed over the bags)
PackedForward = Callable[
    [list[torch.Tensor]], tuple[torch.Tensor, torch.Tensor | None, dict[str, float]]
]


def plain(model: nn.Module) -> Forward:
    """The forward of a model trained on the NLL alone (no extra terms)."""
    return lambda bag: (model(bag), None, {})


def plain_packed(model: ABMIL | ScalarMerge, data: "FoldData") -> "PackedForward | None":
    """The packed forward of an expert or a scalar-weight merge trained on the NLL alone,
    where ``data`` packs its groups (``packs``); None where it trains bag by bag."""
    if not data.packs():
        return None
    logits_of = (
        partial(scalar_packed, model)
        if isinstance(model, ScalarMerge)
        else partial(abmil_packed, model)
    )
    return lambda bags: (logits_of(bags), None, {})


# On a CPU a bag of a few thousand patches keeps the fused per-bag node at the BLAS floor,
# and packing only adds memory (bench/gpu.py: 0.81–1.00× the bags per second packed at
# 2,000–10,000 patches, up to 1.8× the memory). Small bags leave each product too short to
# pay for the ~400 small operations of a STEPH step, and packing wins (2 cores, 1 thread,
# D 64, E 256, A 192, groups of 16: expert 1.41× and STEPH 2.04× the bags per second at 100
# patches, 1.10× / 1.51× at 200, 1.04× / 0.73× at 500; at D 1536, E 512, A 384 both are
# even or better packed up to 128). The rule looks at the data alone, so a run on the same
# device always takes the same path.
PACK_CPU_PATCHES = 128


def packs(device: torch.device, patches: Sequence[int]) -> bool:
    """Whether training on ``device`` runs an accumulation group as one packed batch: on
    accelerators, where one large product beats many small ones; on CPUs only when the
    median training bag has at most ``PACK_CPU_PATCHES`` patches."""
    return device.type != "cpu" or (bool(patches) and median(patches) <= PACK_CPU_PATCHES)


def workspace_bins(ws: Workspace) -> TimeBins:
    s = settings.load(ws)
    return TimeBins(s.time_bins, s.max_time_days)


class Bags(Protocol):
    """Where a fold's bags come from: one cohort's cache, or several (pooled training)."""

    dim: int

    def tensor(self, patient: str, device: torch.device | str = "cpu") -> torch.Tensor: ...

    def patches(self, patient: str) -> int: ...


@dataclass
class FoldData:
    cohort: str
    fold: int
    store: Bags
    train: Labels  # the patients the model learns from
    test: Labels
    bins: TimeBins
    device: torch.device
    val: Labels | None = None  # training patients held out to choose the epoch; never test

    def permuted(self, seed: int) -> "FoldData":
        """This fold with the training patients' (time, event) pairs permuted among them,
        from ``seed`` and the fold: the same bags and event rate, no link between a bag and
        its outcome. Validation and test patients keep their labels."""
        order = np.random.default_rng([seed, self.fold, 104729]).permutation(len(self.train))
        train = Labels(
            self.train.patients,
            self.train.times[order],
            self.train.events[order],
            self.train.slides,
        )
        return replace(self, train=train)

    def packs(self) -> bool:
        """Whether training on this fold packs its groups (``packs``)."""
        return packs(self.device, [self.store.patches(p) for p in self.train.patients])

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

    def group_step(self, packed: "PackedForward", alpha_u: float) -> GroupFn:
        """The losses of a group of training bags, run as one packed batch."""
        y = torch.as_tensor(self.bins.index(self.train.times), device=self.device)
        e = torch.as_tensor(self.train.events, device=self.device)

        def group(items: list[int]) -> tuple[torch.Tensor, dict[str, float]]:
            logits, extra, terms = packed(
                [self.store.tensor(self.train.patients[i], self.device) for i in items]
            )
            chosen = torch.as_tensor(items, device=self.device)
            nll = nll_losses(logits, y[chosen], e[chosen], alpha_u)
            if extra is None:
                return nll, terms
            return nll + extra, {"nll": float(nll.detach().sum()), **terms}

        return group

    def fit(
        self,
        model: nn.Module,
        named_params: list[tuple[str, torch.nn.Parameter]],
        forward: Forward,
        config: TrainConfig,
        run: Run,
        hooks: Hooks,
        label: str,
        annotate: Callable[[dict[str, float]], dict[str, float]] | None = None,
        packed: "PackedForward | None" = None,
    ) -> list[dict[str, float]]:
        """Train ``model`` on this fold's train bags with the shared loop.

        After each epoch the model scores the validation patients (in eval mode, which draws
        no random numbers, so training follows the same path with or without them); with
        ``config.select == "best"`` the epoch with the best validation C-index is kept (the
        first of equals), else the last. One log line per epoch (train loss, validation
        C-index; ``annotate`` may add to or check the record first) and the ``train`` bar of
        ``hooks``. The model is left in eval mode. ``packed`` (a forward of several bags)
        runs each accumulation group as one batch: the same gradients, for accelerators.
        """
        best: tuple[float, int, dict[str, torch.Tensor]] | None = None

        def on_epoch(record: dict[str, float]) -> None:
            nonlocal best
            record = annotate(record) if annotate else record
            status = f"epoch {record['epoch']:.0f}/{config.epochs} loss {record['loss']:.4f}"
            if self.val is not None:
                model.eval()
                value = self.cindex(model, self.val).value
                model.train()
                record["val_cindex"] = value if value is not None else math.nan
                status += f" val C {value:.3f}" if value is not None else " val C –"
                if value is not None and (best is None or value > best[0]):
                    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    best = (value, int(record["epoch"]), state)
            run.log("epoch", **record)
            hooks.status("train", status)

        run.log("batches", packed=packed is not None, bags=config.accumulate)
        hooks.bar("train", config.epochs * len(self.train), label)
        history = fit(
            named_params,
            len(self.train),
            self.step(forward, config.alpha_u),
            config,
            item_name=lambda i: f"patient {self.train.patients[i]}",
            on_step=lambda: hooks.advance("train"),
            on_epoch=on_epoch,
            group_step=None if packed is None else self.group_step(packed, config.alpha_u),
        )
        if config.select == "best":
            if best is None:
                raise RunFailedError(
                    f"{label}: no epoch has a validation C-index (no events among the "
                    f"{len(self.val or [])} validation patients), so none can be selected"
                )
            model.load_state_dict(best[2])
            run.log("selected", epoch=best[1], val_cindex=best[0])
        model.eval()
        return history

    def logits(self, logits_of: Callable[[torch.Tensor], torch.Tensor], patients) -> torch.Tensor:  # type: ignore[no-untyped-def]
        """Hazard logits [patients, T]; the caller sets eval mode."""
        with torch.no_grad():
            return torch.stack([logits_of(self.store.tensor(p, self.device)) for p in patients])

    def risks(self, logits_of: Callable[[torch.Tensor], torch.Tensor], patients) -> np.ndarray:  # type: ignore[no-untyped-def]
        """Risk scores (−Σ S_j) of ``patients``."""
        return curves.risk(self.logits(logits_of, patients)).cpu().numpy().astype(np.float64)

    def cindex(self, logits_of: Callable[[torch.Tensor], torch.Tensor], who: Labels) -> Metric:
        return harrell_cindex(who.events, who.times, self.risks(logits_of, who.patients))

    def test_cindex(self, logits_of: Callable[[torch.Tensor], torch.Tensor]) -> Metric:
        return self.cindex(logits_of, self.test)


class Stores:
    """Bags of several cohorts, addressed as ``COHORT/patient``: one training set of the
    target's and other cohorts' patients (pooled training)."""

    def __init__(self, stores: dict[str, Bags]) -> None:
        self.stores = stores
        self.dim = next(iter(stores.values())).dim

    def tensor(self, key: str, device: torch.device | str = "cpu") -> torch.Tensor:
        store, patient = self._find(key)
        return store.tensor(patient, device)

    def patches(self, key: str) -> int:
        store, patient = self._find(key)
        return store.patches(patient)

    def _find(self, key: str) -> tuple[Bags, str]:
        cohort, patient = key.split("/", 1)
        return self.stores[cohort], patient


def pooled(target: FoldData, others: list[FoldData]) -> FoldData:
    """The target fold with the other folds' training patients added to its training set;
    its validation and test patients stay the target's own."""
    parts = [target, *others]

    def keyed(data: FoldData, who: Labels) -> Labels:
        names = tuple(f"{data.cohort}/{p}" for p in who.patients)
        return Labels(names, who.times, who.events, {n: (n,) for n in names})

    train = [keyed(d, d.train) for d in parts]
    joined = Labels(
        tuple(p for t in train for p in t.patients),
        np.concatenate([t.times for t in train]),
        np.concatenate([t.events for t in train]),
        {p: s for t in train for p, s in t.slides.items()},
    )
    store = Stores({d.cohort: d.store for d in parts})
    return FoldData(
        target.cohort,
        target.fold,
        store,
        joined,
        keyed(target, target.test),
        target.bins,
        target.device,
        keyed(target, target.val) if target.val is not None else None,
    )


def hold_out(train: Labels, fraction: float, seed: int, fold: int) -> tuple[Labels, Labels]:
    """(train, validation): ``fraction`` of the training patients, drawn within each event
    group (so both keep the event rate), from ``seed`` and the fold alone."""
    rng = np.random.default_rng([seed, fold])
    held: list[str] = []
    for event in (0, 1):
        group = [p for p, e in zip(train.patients, train.events, strict=True) if e == event]
        take = round(fraction * len(group))
        held.extend(group[i] for i in sorted(rng.permutation(len(group))[:take]))
    kept = [p for p in train.patients if p not in set(held)]
    chosen = [p for p in train.patients if p in set(held)]
    return train.subset(kept), train.subset(chosen)


def load(
    ws: Workspace,
    cohort: str,
    fold: int,
    device: torch.device,
    config: TrainConfig | None = None,
) -> FoldData:
    """The fold's data; with a training ``config`` its validation patients are set apart:
    the split's own val patients if it has any, else ``config.val_fraction`` of the training
    patients (none by default). Test patients are never among them."""
    labels = cohorts.load_labels(ws, cohort)
    split = read_fold(ws.split_file(cohort, fold), fold, labels)
    store = bags.open_store(ws, cohort, labels)
    settings.set_feature_dim(ws, store.dim, f"features of {cohort}")
    train, val = labels.subset(split.train), None
    if config is not None and split.val:
        val = labels.subset(split.val)
    elif config is not None and config.val_fraction > 0:
        train, val = hold_out(train, config.val_fraction, config.run_seed, fold)
    elif split.val:  # evaluation: the val patients are training patients (IPCW reference)
        train = labels.subset([*split.train, *split.val])
    if config is not None and config.select == "best" and val is None:
        raise BadInputError(
            f"choosing the best epoch needs validation patients, and fold {fold} of {cohort} "
            "has none",
            Fix.set("val_fraction", "hold some out: {}", 0.2),
        )
    return FoldData(
        cohort, fold, store, train, labels.subset(split.test), workspace_bins(ws), device, val
    )
