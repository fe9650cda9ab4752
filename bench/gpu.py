"""Bags per second, matrix-product utilisation and peak memory of training steps on a device,
bag by bag against packed batches; and encoder tiles per second for extraction.

For bags of N × D features, a group of G bags (one accumulation group):

- expert, per bag: the fused per-bag forward and backward, G times (what CPUs run on large bags);
- expert, packed: one forward of the G bags stacked (``models.packed``) and one backward;
- STEPH (M sources), per bag and packed alike (a merged encoder per bag, batched products).

Utilisation is the step's matrix-product FLOPs per second over the device's own peak, taken
from a large matmul in the same run (TF32 allowed on CUDA, as training allows it). Peak
memory is ``torch.cuda.max_memory_allocated`` on CUDA and the peak resident memory on CPU.
Extraction: a timm encoder on batches of 224² tiles (bf16 autocast on CUDA).
Usage: python bench/gpu.py [--device cuda] [--sizes 2000 10000] [--group 16] [--sources 4]
"""

import argparse
import resource
import time
from collections.abc import Callable
from typing import Any

import torch

from steph_cli.models.abmil import ABMIL, Architecture, encoder_keys
from steph_cli.models.layout import Layout
from steph_cli.models.merged import StephNet
from steph_cli.models.packed import abmil_packed, steph_packed

T = 32
Packed = Callable[[Any, list[torch.Tensor]], torch.Tensor]


def per_bag(model: Any, bags: list[torch.Tensor]) -> torch.Tensor:
    """The bag-by-bag path with the packed signature: logits [B, T]."""
    return torch.stack([model(b) for b in bags])


def timed(fn: Callable[[], object], device: torch.device, rounds: int) -> float:
    """Best seconds of ``fn`` over ``rounds`` after a warm-up, synchronising the device."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def peak_flops(device: torch.device, rounds: int) -> float:
    n = 8192 if device.type == "cuda" else 1024
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    return 2 * n**3 / timed(lambda: a @ b, device, rounds)


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def step_flops(n: int, d: int, e: int, a: int, hyper: bool) -> float:
    """Matrix-product FLOPs of one bag's forward and backward (no gradient for the input)."""
    forward = 2 * n * (d * e + e * 2 * a) + (2 * n * d * e if hyper else 0)
    return 3 * forward - 2 * n * d * e * (2 if hyper else 1)


def steph_model(arch: Architecture, m: int, device: torch.device) -> StephNet:
    state = ABMIL(arch).state_dict()
    layout = Layout.of(state, encoder_keys(state))
    base = layout.flatten(state)
    g = torch.Generator().manual_seed(0)
    target = torch.randn(layout.size, generator=g) * 1e-3
    sources = torch.randn(m, layout.size, generator=g) * 1e-3
    return StephNet(arch, layout, base, target, sources, 5, "relu", seed=0).to(device)


def extraction(device: torch.device, encoder: str, batch: int, rounds: int) -> str:
    from steph_cli.errors import BadInputError
    from steph_cli.slides.encoders import import_timm

    try:
        timm = import_timm()
    except BadInputError as exc:
        return f"extraction: {exc}"
    model = timm.create_model(encoder, pretrained=False, num_classes=0).to(device).eval()
    tiles = torch.randn(batch, 3, 224, 224, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def run() -> None:
        with torch.inference_mode(), autocast:
            model(tiles)

    reset_memory(device)
    seconds = timed(run, device, rounds)
    return (
        f"extraction ({encoder}, batches of {batch}): {batch / seconds:,.0f} tiles/s, "
        f"peak {peak_memory_mib(device):,.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--group", type=int, default=16)
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--embed", type=int, default=512)
    parser.add_argument("--attn", type=int, default=384)
    parser.add_argument("--encoder", default="vit_small_patch16_224")
    parser.add_argument("--tiles", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.manual_seed(0)
    arch = Architecture(args.dim, args.embed, args.attn, T)
    peak = peak_flops(device, args.rounds)
    print(f"{device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'})")
    print(f"peak matmul {peak / 1e12:.1f} TFLOP/s; groups of {args.group} bags, D={args.dim}")
    print(f"{'model':<14} {'N':>6} {'path':<8} {'bags/s':>9} {'GEMM util':>10} {'peak MiB':>9}")
    expert = ABMIL(arch).to(device).train()
    steph = steph_model(arch, args.sources, device).train()
    for n in args.sizes:
        bags = [torch.randn(n, args.dim, device=device) for _ in range(args.group)]
        steph_name = f"steph M={args.sources}"
        cases: list[tuple[str, torch.nn.Module, Packed, bool]] = [
            ("expert", expert, per_bag, False),
            ("expert", expert, abmil_packed, False),
            (steph_name, steph, per_bag, True),
            (steph_name, steph, steph_packed, True),
        ]
        for i, (name, model, forward, hyper) in enumerate(cases):
            path = "packed" if i % 2 else "per bag"

            def step(
                model: torch.nn.Module = model,
                forward: Packed = forward,
                bags: list[torch.Tensor] = bags,
            ) -> None:
                forward(model, bags).logsumexp(1).sum().backward()

            reset_memory(device)
            seconds = timed(step, device, args.rounds)
            model.zero_grad(set_to_none=True)
            flops = args.group * step_flops(n, args.dim, args.embed, args.attn, hyper)
            print(
                f"{name:<14} {n:>6} {path:<8} {args.group / seconds:>9.1f} "
                f"{flops / seconds / peak:>10.0%} {peak_memory_mib(device):>9,.0f}"
            )
    print(extraction(device, args.encoder, args.tiles, args.rounds))


if __name__ == "__main__":
    main()
