"""The Python API drives the whole pipeline without the CLI, with the CLI's results."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_steph

SIZES = {"patients": 24, "cancers": 3, "feature_dim": 8, "folds": 2, "epochs": 2}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

API_DEMO = """
import json, sys
import steph_cli

result = steph_cli.demo(sys.argv[1], seed=5, device="cpu", **json.loads(sys.argv[2]))
loaded = sorted(m for m in sys.modules if m.startswith(("steph_cli.cli", "typer", "click")))
print(json.dumps({"loaded": loaded, "evaluation": result.evaluation.to_json(),
                  "experts": [r.to_json() for r in result.experts]}))
"""


def _models(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*.safetensors"))
        if "cache" not in p.parts
    }


def test_api_demo_equals_cli_demo(tmp_path: Path) -> None:
    env = {**os.environ, **ONE_THREAD}
    api_ws, cli_ws = tmp_path / "api", tmp_path / "cli"
    done = subprocess.run(
        [sys.executable, "-c", API_DEMO, str(api_ws), json.dumps(SIZES)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=True,
    )
    from_api = json.loads(done.stdout)
    assert from_api["loaded"] == []  # neither steph_cli.cli nor Typer/Click was imported
    args = [f"--{k.replace('_', '-')}={v}" for k, v in SIZES.items()]
    shell = run_steph(
        "--workspace",
        str(cli_ws),
        "--seed",
        "5",
        "--device",
        "cpu",
        "demo",
        *args,
        "--json",
        env=ONE_THREAD,
    )
    from_cli = json.loads(shell.stdout)

    api_models, cli_models = _models(api_ws), _models(cli_ws)
    # experts, vectors and the merges of three methods for 3 cohorts × 2 folds, θ_init, the
    # permuted-label experts of the 3 sources and the two learned merges from them
    assert len(api_models) == 1 + 6 + 6 + 3 * 6 + 3 + 2 * 6
    assert api_models.keys() == cli_models.keys()
    different = [name for name in api_models if api_models[name] != cli_models[name]]
    assert different == []
    assert from_api["evaluation"] == from_cli["evaluation"]
    assert [e["test_harrell_cindex"] for e in from_api["experts"]] == [
        e["test_harrell_cindex"] for e in from_cli["experts"]
    ]
    assert (api_ws / "steph.toml").read_text() == (cli_ws / "steph.toml").read_text()
