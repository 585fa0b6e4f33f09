"""Scoring sharded over two CPU processes with torchrun (gloo) equals one process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import duckdb

from pipelines.service import land_and_run
from ranker.score import score
from ranker.train import TrainConfig, train


def test_torchrun_two_processes_match_one(tmp_path):
    land_and_run(tmp_path, "synthetic", events=3_000, seed=9)
    result = train(tmp_path, TrainConfig(max_epochs=1, threads=1, batch_size=64,
                                         model={"d_model": 16, "n_layers": 1, "max_len": 20}))
    single = score(tmp_path, result.best_checkpoint, tmp_path / "one.parquet", k=5)
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    assert torchrun, "torchrun is installed with torch"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "ranker.score",
         "--workdir", str(tmp_path), "--checkpoint", str(result.best_checkpoint),
         "--output", str(tmp_path / "two.parquet"), "--top-k", "5"],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "world size 2" in proc.stdout
    q = "select user_id, item_id, rank, score from read_parquet(?) order by user_id, rank"
    one = duckdb.execute(q, [str(tmp_path / "one.parquet")]).fetchall()
    two = duckdb.execute(q, [str(tmp_path / "two.parquet")]).fetchall()
    assert len(one) == len(two) == single.rows
    assert [r[:3] for r in one] == [r[:3] for r in two]
    assert all(abs(a[3] - b[3]) < 1e-4 for a, b in zip(one, two, strict=True))
    assert not list(tmp_path.glob("two.part*"))
