"""Are the sources' task vectors informative for a target? Measured on a study's full cell.

For each target cohort T (its fold-``--fold`` training patients, 20 % held out as
validation patients within each event group; test patients never read):

- norms: ‖τ‖ of every expert's task vector (encoder) and its cosine with τ_T;
- probe: a ridge Cox model on the attention-pooled embedding z of each encoder (θ_init, and
  each expert's) fitted on T's remaining training patients, its Harrell's C on T's
  validation patients — does the encoder carry what ranks T's patients?
- zero-shot: each expert's own risk score (its head included) on the same validation
  patients — does the whole expert carry T's phenotype → hazard map?

T's own expert was trained on these validation patients too (marked "own"), so its row is
optimistic; the sources' rows never saw a patient of T.

Usage: python bench/transfer_probe.py WORKSPACE [--fold 0] [--targets BLCA,BRCA,KIRC]
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv

from steph_cli.models import io
from steph_cli.models.abmil import ABMIL, encoder_keys
from steph_cli.models.layout import Layout
from steph_cli.survival import curves
from steph_cli.survival.metrics import harrell_cindex
from steph_cli.training import fold as fold_data
from steph_cli.training.fold import hold_out
from steph_cli.workspace import Workspace


def embeddings(model: ABMIL, data: fold_data.FoldData, patients: tuple[str, ...]) -> np.ndarray:
    with torch.no_grad():
        return np.stack([model.embed(data.store.tensor(p))[0].numpy() for p in patients])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--targets", default="BLCA,BRCA,KIRC")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ws = Workspace(args.workspace)
    init = io.read(ws.init_file).tensors
    layout = Layout.of(init, encoder_keys(init))
    experts = {c: io.read(ws.expert_file(c, args.fold)).tensors for c in ws.cohorts()}
    tau = {c: layout.flatten(s) - layout.flatten(init) for c, s in experts.items()}
    models = {"θ_init": init, **experts}
    for target in args.targets.split(","):
        data = fold_data.load(ws, target, args.fold, torch.device("cpu"))
        fit, val = hold_out(data.train, 0.2, 0, args.fold)
        y = Surv.from_arrays(fit.events.astype(bool), fit.times)
        print(
            f"\n{target} fold {args.fold}: probe on {len(fit)} training, C on {len(val)} validation"
        )
        print(f"{'encoder':10s} {'‖τ‖':>7s} {'cos τ_T':>8s} {'probe C':>8s} {'zero-shot C':>12s}")
        for name, state in models.items():
            model = ABMIL(io.read(ws.init_file).arch)
            model.load_state_dict(state)
            model.eval()
            zf, zv = embeddings(model, data, fit.patients), embeddings(model, data, val.patients)
            mean, sd = zf.mean(0), zf.std(0) + 1e-8
            cox = CoxPHSurvivalAnalysis(alpha=10.0).fit((zf - mean) / sd, y)
            probe = harrell_cindex(val.events, val.times, cox.predict((zv - mean) / sd)).value
            with torch.no_grad():
                risk = curves.risk(torch.stack([model(data.store.tensor(p)) for p in val.patients]))
            shot = harrell_cindex(val.events, val.times, risk.numpy()).value
            norm = f"{float(tau[name].norm()):7.3f}" if name in tau else f"{'–':>7s}"
            cos = (
                f"{float(torch.nn.functional.cosine_similarity(tau[name], tau[target], 0)):8.3f}"
                if name in tau
                else f"{'–':>8s}"
            )
            label = f"{name} (own)" if name == target else name
            print(f"{label:10s} {norm} {cos} {probe:8.3f} {shot:12.3f}")


if __name__ == "__main__":
    main()
