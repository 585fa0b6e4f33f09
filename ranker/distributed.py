"""Several processes under ``torchrun``: the process group, and launching a module on N ranks.

Scoring shards users over ranks; training runs DistributedDataParallel (gloo on CPU, NCCL on
GPUs). The launching process never joins the group: it starts ``torchrun --standalone``, waits,
and reads what rank 0 wrote. torchrun stops every rank when one fails and exits non-zero, which
:func:`launch` turns into a :class:`RuntimeError` carrying the launcher's last lines.
"""

from __future__ import annotations

import os
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
    """Leave the process group, if this process joined one."""
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


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
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-40:]
        raise RuntimeError(f"{what} with {processes} processes failed "
                           f"(exit {proc.returncode}): " + " | ".join(tail))
