"""Scoring job: top-K items for every user from a trained checkpoint, written to Parquet.

Each user's WHOLE history (train, validation and test events) is the input sequence, and items
already in it are never recommended. Batches run on the best device present; with several
processes (``torchrun``, gloo on CPU) each scores every ``world_size``-th user and rank 0 merges
the parts. Output rows: ``user_id, item_id, rank, score`` in the input's own ids, rank 1 = best,
sorted by user then rank, so the same inputs give the same file content.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from ranker import data as rdata
from ranker import distributed
from ranker.checkpoint import load_checkpoint


@dataclass
class ScoreResult:
    """What a scoring run wrote and how fast."""

    output: Path
    rows: int
    users: int
    seconds: float
    users_per_second: float
    device: str
    world_size: int


@torch.no_grad()
def top_k(model, seqs: list[np.ndarray], behs: list[np.ndarray], k: int,
          batch_size: int = 1024, device: str | torch.device = "cpu", progress=None):
    """(item indices (U, k), scores (U, k)) of the best unseen items per sequence.

    ``progress(done, total)`` is told the sequences scored after each batch.
    """
    n = len(seqs)
    items = torch.zeros(n, k, dtype=torch.long)
    scores = torch.zeros(n, k, dtype=torch.float32)
    max_len = model.cfg.max_len
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        seq = rdata.left_pad(seqs[lo:hi], max_len).to(device)  # (B, L)
        beh = rdata.left_pad(behs[lo:hi], max_len).to(device)  # (B, L)
        s, _ = model(seq, beh)  # (B, N+1)
        s = s.float()
        hist = seqs[lo:hi]
        # Mask every history item in one indexed write: (row, item) pairs of the whole batch.
        rows = torch.repeat_interleave(torch.arange(len(hist)),
                                       torch.tensor([len(h) for h in hist]))
        cols = torch.from_numpy(np.concatenate(hist + [np.zeros(0, np.int64)]).astype(np.int64))
        s[rows.to(s.device), cols.to(s.device)] = float("-inf")
        top = torch.topk(s, k, dim=1)  # values sorted, ties by lower index first on CPU
        items[lo:hi], scores[lo:hi] = top.indices.cpu(), top.values.cpu()
        if progress:
            progress(hi, n)
    return items, scores


def users_per_second(models: dict, seqs: list[np.ndarray], behs: list[np.ndarray], *,
                     k: int = 10, batch_size: int = 1024, repeats: int = 3) -> dict[str, float]:
    """Scoring speed of each named model on the same sequences in the same batches, on the CPU.

    After one untimed warm-up batch each, the models take turns for ``repeats`` rounds (so a
    burst of load on a shared machine falls on both alike) and each keeps its fastest pass.
    """
    k = min(k, min(m.cfg.n_items for m in models.values()))
    for model in models.values():
        top_k(model, seqs[:batch_size], behs[:batch_size], k, batch_size)
    best = dict.fromkeys(models, float("inf"))
    for _ in range(repeats):
        for name, model in models.items():
            started = time.perf_counter()
            top_k(model, seqs, behs, k, batch_size)
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: len(seqs) / seconds for name, seconds in best.items()}


def score(workdir: Path, checkpoint: Path, output: Path, *, k: int = 10,
          batch_size: int = 1024, device: str = "", progress=None) -> ScoreResult | None:
    """Score every user of ``workdir/features.duckdb``; rank 0 returns the result, others None.

    ``progress(done, total)`` counts this process's users as they are scored.
    """
    started = time.perf_counter()
    rank, world = distributed.world()
    dev = torch.device(device or (f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
                                  if torch.cuda.is_available() else "cpu"))
    model, ckpt = load_checkpoint(Path(checkpoint), dev)
    dev = model.side_category.device  # an int8 model runs on the CPU whatever was asked
    data = rdata.load(Path(workdir) / "features.duckdb")
    if not np.array_equal(ckpt["item_ids"].numpy(), data.item_ids):
        raise ValueError("the checkpoint was trained on a different item catalogue than "
                         f"{workdir}/features.duckdb; train again on this data")
    if not 1 <= k <= data.n_items:
        raise ValueError(f"top-k must be between 1 and {data.n_items}")
    seqs, behs = rdata.full_histories(data)
    mine = np.arange(rank, len(seqs), world)
    items, scores = top_k(model, [seqs[u] for u in mine], [behs[u] for u in mine], k,
                          batch_size, dev, progress)
    part = _table(data, mine, items, scores)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if world > 1:
        pq.write_table(part, output.with_suffix(f".part{rank}"))
        torch.distributed.barrier()
        if rank != 0:
            return None
        part = pa.concat_tables([pq.read_table(output.with_suffix(f".part{r}"))
                                 for r in range(world)])
    final = _sorted(part)
    tmp = output.with_suffix(".tmp")
    pq.write_table(final, tmp)
    tmp.replace(output)  # a reader never sees a half-written file
    if world > 1:
        for r in range(world):
            output.with_suffix(f".part{r}").unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    return ScoreResult(output, final.num_rows, len(seqs), seconds, len(seqs) / seconds,
                       dev.type, world)


def _table(data: rdata.SeqData, users: np.ndarray, items: torch.Tensor,
           scores: torch.Tensor) -> pa.Table:
    n, k = items.shape
    return pa.table({
        "user_id": np.repeat(data.user_ids[users], k).astype(np.int64),
        "item_id": data.item_ids[items.numpy().reshape(-1) - 1].astype(np.int64),
        "rank": np.tile(np.arange(1, k + 1), n).astype(np.int32),
        "score": scores.numpy().reshape(-1).astype(np.float32),
    })


def _sorted(table: pa.Table) -> pa.Table:
    con = duckdb.connect()
    try:
        con.register("t", table)
        return con.sql("select * from t order by user_id, rank").to_arrow_table()
    finally:
        con.close()


def default_processes() -> int:
    """One process per GPU when there are several; otherwise one process."""
    return max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1


def score_processes(workdir: Path, checkpoint: Path, output: Path, *, processes: int,
                    k: int = 10, batch_size: int = 1024, timeout: float | None = None,
                    progress=None) -> ScoreResult:
    """Score with ``processes`` ranks under ``torchrun`` (gloo on CPU, NCCL on GPUs).

    Blocks until every rank exits; raises :class:`RuntimeError` with the launcher's last output
    if any rank fails, in which case ``output`` is left as it was (rank 0 writes it last, by
    rename). ``progress(done, total)`` counts users as they are scored in one process; with
    several, once when all are done.
    """
    if processes < 2:
        return score(workdir, checkpoint, output, k=k, batch_size=batch_size,
                     progress=progress)
    output = Path(output)
    summary = output.with_suffix(".result.json")
    summary.unlink(missing_ok=True)
    distributed.launch("ranker.score", [
        "--workdir", str(workdir), "--checkpoint", str(checkpoint), "--output", str(output),
        "--top-k", str(k), "--batch-size", str(batch_size), "--result-json", str(summary)],
        processes, what="scoring", timeout=timeout)
    if not summary.exists():
        raise RuntimeError(f"scoring with {processes} processes wrote no result")
    fields = json.loads(summary.read_text())
    summary.unlink()
    if progress:
        progress(fields["users"], fields["users"])
    return ScoreResult(**{**fields, "output": Path(fields["output"])})


@click.command("ranker.score")
@click.option("--workdir", type=click.Path(path_type=Path), required=True,
              help="Folder holding features.duckdb.")
@click.option("--checkpoint", type=click.Path(path_type=Path), required=True,
              help="The model version's checkpoint.")
@click.option("--output", type=click.Path(path_type=Path), required=True,
              help="Parquet file of the top-K lists.")
@click.option("--top-k", type=click.IntRange(min=1), default=10, show_default=True,
              help="Items per user.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Users scored per forward pass.")
@click.option("--result-json", type=click.Path(path_type=Path),
              help="Rank 0 writes its ScoreResult here as JSON (for the launching process).")
def main(workdir, checkpoint, output, top_k, batch_size, result_json) -> None:
    """``torchrun --nproc_per_node N -m ranker.score ...``: score sharded over N processes."""
    result = score(workdir, checkpoint, output, k=top_k, batch_size=batch_size)
    if result is not None and result_json:
        result_json.write_text(json.dumps({**asdict(result), "output": str(result.output)}))
    if result is not None:
        click.echo(f"{result.rows} rows, {result.users_per_second:.1f} users/s, "
                   f"world size {result.world_size}")
    distributed.leave()


if __name__ == "__main__":
    main(prog_name="ranker.score")
