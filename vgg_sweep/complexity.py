"""What one forward pass costs: multiply-accumulates (MACs) and FLOPs, counted with ptflops.

ptflops and THOP count multiply-accumulates and call them "FLOPs"; we name them honestly:

- `macs`: multiply-accumulates of the conv and linear weights for one input of the trial's
  shape, the layer formula Cin/groups*Cout*Kh*Kw*Hout*Wout per conv and in*out per linear.
  Bias adds, BatchNorm, activations and pooling are not counted. This is the convention of
  R3 and R4 (VGG6: 96.1 M MACs on 3x32x32).
- `flops` = 2 x `macs` (a multiply and an add): R3's SimpleCNN 161.16 M FLOPs.
- `macs_ptflops`: what ptflops reports with its default settings (pytorch backend): the above
  plus biases, BatchNorm (2 per element), activations and pooling, the last two counted twice
  (once by the module hook, once by its patched functional). Kept because it is the number
  users compare with ptflops/THOP tables, such as R1's ResNet-18 (557.8 M).

The count runs on a CPU copy of the model (ptflops switches the model to eval() and its aten
backend leaves forward hooks behind) and prints nothing. It is counted once per architecture:
the counts are kept in the cache folder (`vgg_sweep.data.cache_root`) under a hash of the
model's structure (its `repr`: every layer and size), the input shape and the ptflops
version, so the trials of a sweep that repeat a model read it back (~0.3 s saved per trial).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import math
from importlib.metadata import version

import torch
from torch import nn


def _conv_macs(inputs, outputs) -> int:
    """aten.convolution: weight multiply-accumulates only (the weight holds Cin/groups)."""
    weight, out = inputs[1], outputs[0]
    spatial = out.shape[2:] if not inputs[6] else inputs[0].shape[2:]  # transposed: input grid
    return inputs[0].shape[0] * math.prod(weight.shape) * math.prod(spatial)


def _addmm_macs(inputs, outputs) -> int:
    """aten.addmm (a Linear with bias): rows x in x out, the bias add not counted."""
    rows, width = inputs[1].shape
    return rows * width * inputs[2].shape[1]


def count_macs(model: nn.Module, in_shape: tuple[int, ...]) -> dict[str, int]:
    """`{"macs", "flops", "macs_ptflops"}` for one input of `in_shape` (C, H, W), from the
    cache when this architecture was counted before.

    >>> from vgg_sweep.models import build_model
    >>> count_macs(build_model("vgg6", (3, 32, 32), 10), (3, 32, 32))["macs"]
    96142592
    """
    from vgg_sweep.data import cache_root
    from vgg_sweep.record import atomic_write_bytes

    key = f"{model!r}\n{tuple(in_shape)}\nptflops {version('ptflops')}"
    path = cache_root() / "flops" / f"{hashlib.sha1(key.encode()).hexdigest()}.json"
    with contextlib.suppress(OSError, ValueError):
        counts = json.loads(path.read_text())
        if set(counts) == {"macs", "flops", "macs_ptflops"}:
            return counts
    counts = _counted(model, in_shape)
    with contextlib.suppress(OSError):  # an unwritable cache: counted again next time
        atomic_write_bytes(path, json.dumps(counts).encode())
    return counts


def _counted(model: nn.Module, in_shape: tuple[int, ...]) -> dict[str, int]:
    """The count itself (ptflops)."""
    from ptflops import get_model_complexity_info

    aten = torch.ops.aten
    weight_only = {aten.convolution: _conv_macs, aten._convolution: _conv_macs,
                   aten.addmm: _addmm_macs}
    cpu_model = copy.deepcopy(model).float().cpu()
    counts = {}
    quiet = io.StringIO()  # ptflops prints its per-layer table and any failure to stdout
    with contextlib.redirect_stdout(quiet), torch.no_grad():
        for key, backend, hooks in (("macs", "aten", weight_only),
                                    ("macs_ptflops", "pytorch", {})):
            macs, _ = get_model_complexity_info(
                cpu_model, tuple(in_shape), as_strings=False, print_per_layer_stat=False,
                ost=quiet, backend=backend, custom_modules_hooks=hooks)
            if macs is None:
                raise RuntimeError(f"ptflops ({backend} backend) could not count "
                                   f"{type(model).__name__}: {quiet.getvalue().strip()}")
            counts[key] = int(macs)
    return {"macs": counts["macs"], "flops": 2 * counts["macs"],
            "macs_ptflops": counts["macs_ptflops"]}
