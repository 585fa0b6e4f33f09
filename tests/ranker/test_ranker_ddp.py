"""Training on several processes: torchrun + DistributedDataParallel (gloo on the CPU).

Without dropout, two ranks at the same global batch compute the one-process gradient (each
rank's loss weighted by its share of the batch's targets), so the weights agree to float
rounding. A rank that dies fails the run, and nothing is registered.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ranker.checkpoint import load_checkpoint
from ranker.distributed import failure_report
from ranker.registry import train_and_register
from ranker.train import TrainConfig, train, train_processes

NO_DROPOUT = dict(max_epochs=4, patience=4, batch_size=32, threads=1, lr=5e-3,
                  model={"d_model": 16, "n_layers": 1, "max_len": 10, "dropout": 0.0,
                         "attn_dropout": 0.0})


def test_two_processes_match_one_at_the_same_global_batch(make_feature_db, tmp_path):
    from tests.ranker.conftest import cyclic_sequences

    make_feature_db(tmp_path / "one", cyclic_sequences())
    make_feature_db(tmp_path / "two", cyclic_sequences())
    one = train(tmp_path / "one", TrainConfig(**NO_DROPOUT))
    two = train_processes(tmp_path / "two", TrainConfig(**NO_DROPOUT), 2)
    assert (one.world_size, two.world_size) == (1, 2)
    assert two.epochs == one.epochs == 4 and two.best_epoch == one.best_epoch
    for k in ("ndcg@10", "hr@10", "mrr"):
        assert two.valid_metrics[k] == pytest.approx(one.valid_metrics[k], abs=1e-3)
        assert two.test_metrics[k] == pytest.approx(one.test_metrics[k], abs=1e-3)
    for h1, h2 in zip(one.history, two.history, strict=True):
        assert h2["loss"] == pytest.approx(h1["loss"], rel=1e-4)
    a = load_checkpoint(one.best_checkpoint)[0].state_dict()
    b, ckpt = load_checkpoint(two.best_checkpoint)
    b = b.state_dict()
    assert max((a[k] - b[k]).abs().max().item() for k in a if a[k].is_floating_point()) < 1e-4
    assert ckpt["world_size"] == 2


def test_cli_trains_on_two_processes_and_records_the_world_size(runner, cyclic_db, tmp_path,
                                                                 sqlite_url, catalog):
    from catalog.client import CatalogClient
    from recocatalog.cli import main
    from tests.live_server import live_server

    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({**NO_DROPOUT, "max_epochs": 2, "patience": 2}))
    with live_server(sqlite_url, tmp_path) as url:
        out = runner.invoke(main, [
            "ranker", "train", "--processes", "2", "--config", str(config), "--workdir",
            str(cyclic_db), "--catalog-url", url, "--json"])
        assert out.exit_code == 0, out.output
        summary = json.loads(out.stdout)
        assert summary["world_size"] == 2
        assert summary["refit"]["epochs"] == summary["best_epoch"]
        http = CatalogClient(url)
        version = http.get(f"api/v1/models/ranker/versions/{summary['version']}")
        assert version["hyperparameters"]["world_size"] == 2
        run = http.get(f"api/v1/jobs/runs/{version['runId']}")
        assert run["facets"]["training"]["world_size"] == 2
        assert load_checkpoint(Path(version["artifactPath"]))[1]["world_size"] == 2
        # Evaluating the refit on test says it learned those events, beside the honest numbers.
        ev = runner.invoke(main, ["ranker", "evaluate", "--workdir", str(cyclic_db),
                                  "--catalog-url", url, "--json"])
        assert ev.exit_code == 0, ev.output
        body = json.loads(ev.stdout)
        assert body["learned_split"] is True
        assert body["selection_metrics"]["ndcg@10"] == version["metrics"]["test.ndcg@10"]
        assert "was refit on every event" in ev.stderr
        # One process shows the refit's epochs after selection's (a fresh folder: the same
        # one would resume the finished run and train no epoch).
        fresh = tmp_path / "fresh.json"
        fresh.write_text(json.dumps({**NO_DROPOUT, "max_epochs": 2, "patience": 2,
                                     "out_dir": str(tmp_path / "one")}))
        one = runner.invoke(main, ["ranker", "train", "--config", str(fresh), "--workdir",
                                   str(cyclic_db), "--catalog-url", url, "--json", "--progress"])
        assert one.exit_code == 0, one.output
        best = json.loads(one.stdout)["best_epoch"]
        assert one.stderr.splitlines()[-1] == (f"training: {best}/{best} epochs refit on "
                                               "every event")
        # A bad process count is one line and the bad-input exit code.
        bad = runner.invoke(main, ["ranker", "train", "--processes", "0", "--workdir",
                                   str(cyclic_db), "--catalog-url", url])
        assert bad.exit_code == 2 and "--processes" in bad.output


def _rank_processes(workdir: Path, rank: int) -> list[int]:
    """PIDs of torchrun workers of rank ``rank`` training on ``workdir``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if (b"ranker.train" in cmd and str(workdir).encode() in cmd
                and f"RANK={rank}".encode() in env):
            pids.append(int(entry.name))
    return pids


def test_a_failed_rank_fails_the_run_and_registers_nothing(cyclic_db, catalog):
    client, http = catalog
    cfg = TrainConfig(**{**NO_DROPOUT, "max_epochs": 500, "patience": 500})
    marker = cyclic_db / "ranker" / "last.pt"  # rank 0 writes it after the first epoch
    errors = []

    def run():
        try:
            train_and_register(cyclic_db, cfg, client, processes=2, timeout=300)
        except RuntimeError as exc:
            errors.append(str(exc))

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "training never finished an epoch"
    victims = _rank_processes(cyclic_db.resolve(), 1)
    assert victims, "no rank-1 process found"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert errors and "training (select) with 2 processes failed" in errors[0]
    # The error names the rank that died and how, from torchrun's root-cause block.
    assert re.search(r"rank\s*: 1 \(local_rank: 1\) \| exitcode\s*: -9 .*SIGKILL", errors[0])
    runs = {j: http.get(f"/api/v1/namespaces/recsys-ranker/jobs/{j}/runs").get_json()["runs"]
            for j in ("train_ranker", "train_ranker.selection")}
    assert [r["state"] for r in runs["train_ranker"]] == ["FAILED"]
    assert [r["state"] for r in runs["train_ranker.selection"]] == ["FAILED"]
    # No version, not even the model: nothing was registered.
    assert http.get("/api/v1/models/ranker").status_code == 404
    assert http.get("/api/v1/models/ranker/versions/latest").status_code == 404


LEAVE_SCRIPT = """
import os, weakref, torch
from ranker import distributed
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ["PORT"])
torch.distributed.init_process_group("gloo", rank=0, world_size=1)
class Setup:  # like train's: the DDP-wrapped model held in a reference cycle
    pass
def train():
    s = Setup()
    s.net, s.self = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2)), s
    s.net(torch.ones(1, 2)).sum().backward()
    return weakref.ref(s.net)
net = train()
alive = net() is not None
distributed.leave()
print(alive, net() is not None)
"""


def test_leave_frees_the_ddp_module_and_its_group_while_python_still_runs(tmp_path):
    """A rank that finished must not leave gloo's threads to interpreter finalisation, where
    they aborted rank 1 now and then (SIGABRT after its work was done): leave() collects the
    cycles that keep DDP's reducer, and with it the process group, alive."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = subprocess.run([sys.executable, "-c", LEAVE_SCRIPT], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).resolve().parents[2],
                         env={**os.environ, "PORT": str(port)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"]


def test_a_failure_report_keeps_the_ranks_last_lines_and_torchruns_root_cause():
    ranks = [f"rank output {i}" for i in range(30)] + [
        "Traceback (most recent call last):", '  File "x.py", line 1, in <module>',
        "ValueError: the rank's own error"]
    launcher = ["W1207 07:48:00.571000 28294 torch/distributed/elastic/multiprocessing/api.py"
                ":1028] Sending process 28298 closing signal SIGTERM",
                *[f"  torchrun traceback line {i}" for i in range(40)],
                "=" * 40, "Root Cause (first observed failure):", "[0]:",
                "  rank      : 1 (local_rank: 1)",
                "  exitcode  : -6 (pid: 28299)  (SIGABRT)", "=" * 40]
    report = failure_report("\n".join(ranks + launcher)).split(" | ")
    assert report[:2] == ["rank output 13", "rank output 14"]
    assert report[17:20] == ranks[-3:]  # the rank's traceback, as it printed it
    assert report[-4:] == ["Root Cause (first observed failure):", "[0]:",
                           "rank      : 1 (local_rank: 1)",
                           "exitcode  : -6 (pid: 28299)  (SIGABRT)"]
    assert not any("torchrun traceback" in line for line in report)
    # Without a root-cause block (torchrun failed before any rank ran) its last lines stand.
    assert failure_report("E1207 07:48:00.1 1 torch/distributed/run.py] bad\nno such module") \
        == "E1207 07:48:00.1 1 torch/distributed/run.py] bad | no such module"
