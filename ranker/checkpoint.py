"""Checkpoint forms, and the model each one loads back as.

Every checkpoint holds ``model_config``, ``train_config``, ``epoch``, ``step``, the data's
``item_ids`` and ``behaviors`` and the item ``side`` features. A selected one (``best.pt``) also
holds ``best_metric``, ``best_epoch`` and the validation ``history``; a refit on every event
(``refit/model.pt``) holds ``refit`` (its epochs and the splits it learned from) instead, and an
empty history. Its weights come in one of three forms:

- trained (``train.py``): ``model_state`` is the float model's state dict (with the optimizer's,
  but for a refit's final checkpoint, which nothing resumes).
- int8 (``compression.method == "int8"``): ``model_state`` is the state dict of the model after
  dynamic quantization of its ``nn.Linear`` layers (int8 weights with one scale per tensor;
  activations are quantized per batch when scoring). Quantized kernels run on the CPU only, so
  this form always loads on the CPU.
- prune (``compression.method == "prune"``): ``model_state`` holds the weights that were not
  pruned and ``sparse_state`` each pruned one as a bit mask of its non-zero entries plus their
  float32 values: lossless, and 1 + 32 * (1 - sparsity) bits per weight instead of 32.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ranker.model import SeqRanker, config_from

METHODS = ("int8", "prune")


def load_checkpoint(path: Path, device: str | torch.device = "cpu"):
    """(model in eval mode, checkpoint dict) from a checkpoint of any form.

    An int8 model stays on the CPU whatever ``device`` says; read the device off the model.
    """
    with _quantization_deprecations_ignored():  # unpickling int8 weights warns too
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = SeqRanker(config_from(ckpt["model_config"]), ckpt["side"])
    method = (ckpt.get("compression") or {}).get("method")
    state = ckpt["model_state"]
    if method == "int8":
        model = quantize_int8(model)
        device = "cpu"
    elif method == "prune":
        state = {**state, **{k: unpack_sparse(v) for k, v in ckpt["sparse_state"].items()}}
    elif method is not None:
        raise ValueError(f"{path}: unknown compression {method!r}; known: {', '.join(METHODS)}")
    model.load_state_dict(state)
    return model.to(device).eval(), ckpt


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose ``nn.Linear`` layers hold int8 weights (dynamic quantization)."""
    with _quantization_deprecations_ignored():
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


@contextlib.contextmanager
def _quantization_deprecations_ignored():
    """Silence torch's deprecation notices for eager quantization, and only those.

    torch.ao.quantization and quantized tensors are deprecated in favour of torchao, which this
    project does not depend on; eager dynamic quantization still ships with torch and works.
    """
    with warnings.catch_warnings():
        for message in ("torch.ao.quantization is deprecated",
                        "torch.quantize_per_tensor, torch.quantize_per_channel and other",
                        "TypedStorage is deprecated"):
            warnings.filterwarnings("ignore", message=message)
        yield


def pack_sparse(t: torch.Tensor) -> dict:
    """A float tensor as {shape, mask (bit per entry, non-zero = 1), values (the non-zeros)}."""
    flat = t.detach().reshape(-1).cpu()
    nonzero = flat != 0
    return {"shape": list(t.shape),
            "mask": torch.from_numpy(np.packbits(nonzero.numpy())),
            "values": flat[nonzero].clone()}


def unpack_sparse(packed: dict) -> torch.Tensor:
    """The dense tensor :func:`pack_sparse` packed, exactly."""
    shape = packed["shape"]
    n = int(np.prod(shape)) if shape else 1
    nonzero = torch.from_numpy(np.unpackbits(packed["mask"].numpy(), count=n).astype(bool))
    flat = torch.zeros(n, dtype=packed["values"].dtype)
    flat[nonzero] = packed["values"]
    return flat.reshape(shape)


def weights_bytes(ckpt: dict) -> int:
    """Bytes the checkpoint's weights take serialized (model and sparse state, no optimizer)."""
    buf = io.BytesIO()
    torch.save({k: ckpt[k] for k in ("model_state", "sparse_state") if k in ckpt}, buf)
    return buf.tell()
