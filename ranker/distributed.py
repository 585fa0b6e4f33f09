"""Several processes under ``torchrun``: the process group, and launching a module on N ranks.

Scoring shards users over ranks; training runs DistributedDataParallel (gloo on CPU, NCCL on
GPUs). The launching process never joins the group: it starts ``torchrun --standalone``, waits,
and reads what rank 0 wrote. torchrun stops every rank when one fails and exits non-zero, which
:func:`launch` turns into a :class:`RuntimeError` carrying the failed rank's own last lines and
torchrun's root cause.
"""

from __future__ import annotations

import gc
import os
import re
import shutil
import subprocess
import sys

import torch


def world() -> tuple[int, int]:
    """(rank, world size): from torchrun's environment (joining its group), else (0, 1)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return int(os.environ.get("RANK", "0")), size


def leave() -> None:
    """Leave the process group, if this process joined one, and free it while Python still runs.

    DistributedDataParallel's reducer keeps the group alive through reference cycles, so
    ``destroy_process_group`` alone leaves gloo's threads to be torn down during interpreter
    finalisation, where a rank sometimes aborts ("terminate called without an active
    exception", SIGABRT) after its work is done. Collecting first frees them here.
    """
    if torch.distributed.is_initialized():
        gc.collect()
        torch.distributed.destroy_process_group()
        gc.collect()


def launch(module: str, args: list[str], processes: int, *, what: str,
           timeout: float | None = None) -> None:
    """Run ``python -m module args`` on ``processes`` local ranks; raise if any rank fails.

    Each rank gets an equal share of the cores (OMP_NUM_THREADS), not every core each.
    """
    launcher = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or \
        shutil.which("torchrun")
    if launcher is None:
        raise RuntimeError("torchrun is not installed beside this Python; install torch")
    threads = max(1, (os.cpu_count() or 1) // processes)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run(
        [launcher, "--standalone", "--nproc_per_node", str(processes), "-m", module, *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )
    if proc.returncode != 0:
        report = failure_report(proc.stderr or proc.stdout)
        raise RuntimeError(f"{what} with {processes} processes failed "
                           f"(exit {proc.returncode}): {report}")


# torchrun's own log lines ("E1207 07:48:00.587000 28294 torch/distributed/elastic/...").
_LAUNCHER_LOG = re.compile(r"^[DIWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S*torch/distributed/")


def failure_report(output: str, lines: int = 20) -> str:
    """What a failed ``torchrun`` printed, shortest useful form, on one line.

    The ranks' own last ``lines`` lines (their traceback or abort message, which torchrun's
    report would otherwise push out of any tail) and then torchrun's root-cause block (which
    rank, which exit code or signal).
    """
    text = output.strip().splitlines()
    cut = next((i for i, line in enumerate(text) if _LAUNCHER_LOG.match(line)), len(text))
    ranks = [line for line in text[:cut] if line.strip()][-lines:]
    start = next((i for i in range(cut, len(text)) if "Root Cause" in text[i]), None)
    root = [] if start is None else [line.strip() for line in text[start:] if line.strip() and
                                     not set(line.strip()) <= set("=-")][:lines]
    return " | ".join(ranks + (root or [line for line in text[cut:] if line.strip()][-lines:]))
