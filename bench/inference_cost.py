"""Inference cost per bag: a STEPH model against routing (ROUPKT-style), measured in one run.

For bags of N patches × 1536 dims and M sources, seconds per bag (best of rounds, eval mode,
no gradients) of:

- expert: one ABMIL forward — the unit both methods are measured in;
- steph: one hypernetwork embedding, the top-k merge, one expert forward (whatever M is);
- routing: M + 1 expert forwards and the router's embedding.

Printed as seconds and as multiples of the expert forward, for each M: STEPH stays near 2
forwards (the embedding costs about one feat_proj), routing grows as M + 1.

Usage: python bench/inference_cost.py [--sizes 2000 10000] [--sources 4 12] [--rounds 3]
"""

import argparse

import torch

from steph_cli.merging.methods.steph import StephParams
from steph_cli.models.abmil import ABMIL, Architecture, encoder_keys
from steph_cli.models.layout import Layout
from steph_cli.models.merged import RoutingNet, StephNet
from timing import best_of

D, E, A, T = 1536, 512, 384, 32


def models(m: int, arch: Architecture) -> tuple[ABMIL, StephNet, RoutingNet]:
    torch.manual_seed(0)
    expert = ABMIL(arch).eval()
    state = expert.state_dict()
    layout = Layout.of(state, encoder_keys(state))
    base = layout.flatten(state)
    g = torch.Generator().manual_seed(0)
    target = torch.randn(layout.size, generator=g) * 1e-3
    sources = torch.randn(m, layout.size, generator=g) * 1e-3
    params = StephParams()
    steph = StephNet(arch, layout, base, target, sources, params.top_k, params.weight_activation, 0)
    routing = RoutingNet(arch, [state] * (m + 1), seed=0)
    return expert, steph.eval(), routing.eval()


def per_bag(model: torch.nn.Module, bag: torch.Tensor, rounds: int) -> float:
    with torch.no_grad():
        return best_of(lambda: model(bag), rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--sources", type=int, nargs="+", default=[4, 12])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dim", type=int, default=D)
    args = parser.parse_args()
    arch = Architecture(args.dim, E, A, T)
    print(f"torch threads {torch.get_num_threads()}; seconds per bag (× an expert forward)")
    print(f"{'N':>6} {'M':>3} {'expert':>9} {'steph':>16} {'routing':>16}")
    for n in args.sizes:
        bag = torch.randn(n, args.dim)
        for m in args.sources:
            expert, steph, routing = models(m, arch)
            times = {}
            for _ in range(args.rounds):  # interleaved, best of rounds
                for name, model in (("expert", expert), ("steph", steph), ("routing", routing)):
                    t = per_bag(model, bag, 1)
                    times[name] = min(times.get(name, t), t)
            unit = times["expert"]
            print(
                f"{n:>6} {m:>3} {unit:>9.4f} "
                f"{times['steph']:>8.4f} ({times['steph'] / unit:>4.2f}×) "
                f"{times['routing']:>8.4f} ({times['routing'] / unit:>4.2f}×)"
            )


if __name__ == "__main__":
    main()
