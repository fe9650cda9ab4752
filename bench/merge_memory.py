"""Peak memory of STEPH training against the number of sources M, beyond the stacked task
vectors.

For each M, a fresh process builds the STEPH model (θ_init, the target's and M sources' task
vectors stacked, the [2M, P] rows a bag's merge gathers from), notes its resident memory,
then runs training steps on bags of N patches and notes the peak. The difference is what
training adds: it should not grow with M, since a bag's merged encoder gathers 2k rows
(top-k) whatever M is.
Usage: python bench/merge_memory.py [--sources 4 12 32] [--size 10000] [--steps 4]
"""

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

D, E, A, T = 1536, 512, 384, 32


def peak_mib() -> float:
    """The process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def now_mib() -> float:
    """The process's resident memory now (Linux): what the peak of training is compared to,
    since building the model's stacks had temporaries of its own."""
    status = Path("/proc/self/status").read_text().splitlines()
    line = next(x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def worker(m: int, n: int, steps: int) -> None:
    import torch

    from steph_cli.merging.methods.steph import StephParams
    from steph_cli.models.abmil import ABMIL, Architecture, encoder_keys
    from steph_cli.models.layout import Layout
    from steph_cli.models.merged import StephNet
    from steph_cli.training.optimiser import AdamW

    torch.manual_seed(0)
    arch = Architecture(D, E, A, T)
    state = ABMIL(arch).state_dict()
    layout = Layout.of(state, encoder_keys(state))
    base = layout.flatten(state)
    target = torch.randn(layout.size) * 1e-3
    sources = torch.randn(m, layout.size) * 1e-3
    params = StephParams()
    model = StephNet(
        arch, layout, base, target, sources, params.top_k, params.weight_activation, seed=0
    )
    del sources
    bag = torch.randn(n, D)
    built = now_mib()
    optimiser = AdamW([{"params": [p for _, p in model.trainable()], "weight_decay": 1e-4}])
    model.train()
    for _ in range(steps):
        optimiser.zero_grad()
        model(bag).logsumexp(0).backward()
        optimiser.step(1e-3)
    vector_mib = layout.size * 4 / 2**20
    print(json.dumps({"built": built, "peak": peak_mib(), "vector": vector_mib}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, nargs="+", default=[4, 12, 32])
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.size, args.steps)
        return
    print(f"STEPH training, bags of {args.size} × {D}, E={E} A={A}; peak resident memory (MiB)")
    print(f"{'M':>4} {'built':>9} {'training':>9} {'added':>8} {'one τ':>7}")
    for m in args.sources:
        command = [sys.executable, __file__, "--worker", str(m), "--size", str(args.size)]
        command += ["--steps", str(args.steps)]
        out = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        print(
            f"{m:>4} {out['built']:>9.0f} {out['peak']:>9.0f} "
            f"{out['peak'] - out['built']:>8.0f} {out['vector']:>7.1f}"
        )


if __name__ == "__main__":
    main()
