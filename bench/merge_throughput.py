"""Seconds per bag of STEPH training and inference, against matmuls measured in the same run.

For bags of N patches × 1536 dims and M source task vectors:

- train: one STEPH training step (hypernetwork embedding and heads, top-k gather and merge,
  ABMIL forward with the merged encoder, NLL + regularisers, backward, the optimiser update
  amortised over 16 bags);
- infer: one forward in eval mode;
- gemm(2): the two N×D×E products DESIGN.md names — the expert's feat_proj and the
  hypernetwork's embedding — forward and weight-gradient, nothing else;
- gemm(all): every matrix product of the step with nothing else — those two, the gated
  attention's N×E×2A product, and their weight and input gradients — the floor of STEPH;
- expert fwd: the expert's own forward, to show inference costs one embedding plus one
  expert forward whatever M is.

Usage: python bench/merge_throughput.py [--sizes 2000 10000] [--sources 4 12] [--rounds 3]
"""

import argparse
import time

import numpy as np
import torch

from steph_cli.merging.methods.steph import StephParams
from steph_cli.merging.steph_training import regularisers
from steph_cli.models.abmil import ABMIL, Architecture, encoder_keys
from steph_cli.models.layout import Layout
from steph_cli.models.merged import StephNet
from steph_cli.survival.loss import nll_loss
from steph_cli.training.loop import TrainConfig, fit
from timing import best_of

D, E, A, T = 1536, 512, 384, 32


def gemm_two(n: int) -> float:
    x = torch.randn(n, D)
    w1 = torch.randn(E, D, requires_grad=True)
    w2 = torch.randn(E, D, requires_grad=True)
    return best_of(lambda: ((x @ w1.T).sum() + (x @ w2.T).sum()).backward())


def gemm_all(n: int) -> float:
    x = torch.randn(n, D)
    w_p = torch.randn(E, D, requires_grad=True)
    w_ab = torch.randn(2 * A, E, requires_grad=True)
    u = torch.randn(E, D, requires_grad=True)

    def run() -> None:
        ((x @ w_p.T @ w_ab.T).sum() + (x @ u.T).sum()).backward()

    return best_of(run)


def make(m: int) -> StephNet:
    arch = Architecture(D, E, A, T)
    state = ABMIL(arch).state_dict()
    layout = Layout.of(state, encoder_keys(state))
    g = torch.Generator().manual_seed(0)
    base = layout.flatten(state)
    target = torch.randn(layout.size, generator=g) * 1e-3
    sources = torch.randn(m, layout.size, generator=g) * 1e-3
    params = StephParams()
    return StephNet(
        arch, layout, base, target, sources, params.top_k, params.weight_activation, seed=0
    )


def train_time(model: StephNet, bags: list[torch.Tensor]) -> float:
    model.train()
    y, e = torch.zeros(1, dtype=torch.long), torch.ones(1)
    options = StephParams()

    def step(i: int):
        w, lam, top = model.mixing(bags[i])
        logits = model.run(model.encoder(w, lam, top), bags[i])
        balance, shares = regularisers(w, lam, top, model.k)
        extra = options.beta_w * balance + options.beta_lambda * shares
        return nll_loss(logits.unsqueeze(0), y, e) + extra, {}

    config = TrainConfig(epochs=1, accumulate=16, seed=0)
    fit(model.trainable(), 2, step, config)  # warm-up
    start = time.perf_counter()
    fit(model.trainable(), len(bags), step, config)
    return (time.perf_counter() - start) / len(bags)


def infer_time(model: torch.nn.Module, bag: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return best_of(lambda: model(bag))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--sources", type=int, nargs="+", default=[4, 12])
    parser.add_argument("--bags", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, D={D} E={E} A={A}")
    print(
        f"{'N':>6} {'M':>3} {'train s/bag':>12} {'gemm(2)':>8} {'ratio':>6} "
        f"{'gemm(all)':>10} {'ratio':>6} "
        f"{'infer s/bag':>12} {'expert fwd':>11} {'infer/expert':>13}"
    )
    expert = ABMIL(Architecture(D, E, A, T))
    for n in args.sizes:
        bags = [torch.randn(n, D) for _ in range(args.bags)]
        for m in args.sources:
            model = make(m)
            best = dict.fromkeys(["train", "gemm", "all", "infer", "expert"], np.inf)
            for _ in range(args.rounds):  # interleaved: machine noise slows both sides alike
                best["train"] = min(best["train"], train_time(model, bags))
                best["gemm"] = min(best["gemm"], gemm_two(n))
                best["all"] = min(best["all"], gemm_all(n))
                best["infer"] = min(best["infer"], infer_time(model, bags[0]))
                best["expert"] = min(best["expert"], infer_time(expert, bags[0]))
            print(
                f"{n:>6} {m:>3} {best['train']:>12.4f} {best['gemm']:>8.4f} "
                f"{best['train'] / best['gemm']:>6.2f} {best['all']:>10.4f} "
                f"{best['train'] / best['all']:>6.2f} {best['infer']:>12.4f} "
                f"{best['expert']:>11.4f} {best['infer'] / best['expert']:>13.2f}"
            )


if __name__ == "__main__":
    main()
