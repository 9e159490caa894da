"""How ``aframe-train`` uses the hardware it is given: devices and strategy, numeric precision, TF32.

``trainer.precision: auto`` trains with bf16 autocast on a CUDA GPU that computes in bf16 natively (Ampere and
later: A100, A40, L40, H100, H200) and in full fp32 elsewhere (a CPU, a V100 or T4, whose bf16 is emulated and
slower than fp32). Weights stay fp32 under autocast, so the exported network is the same either way. The
injection, augmentation and whitening of each batch (``data.Injector``) run on the device outside autocast, in
float64, whatever the precision.
"""

from __future__ import annotations

from typing import Any

import torch


def lightning_devices(device: str, visible_gpus: int) -> tuple[int, str]:
    """Lightning's ``(devices, strategy)``: DDP over every visible GPU when there are several, else one device."""
    if device == "cuda" and visible_gpus > 1:
        return visible_gpus, "ddp"
    return 1, "auto"


def native_bf16() -> bool:
    """Whether the first visible GPU computes in bf16 in hardware (emulated bf16 is slower than fp32)."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)


def lightning_precision(precision: Any, device: str, bf16: bool) -> Any:
    """The ``precision`` Lightning gets: ``auto`` resolved for ``device`` (``bf16``: the GPU's bf16 is native)."""
    if precision != "auto":
        return precision
    return "bf16-mixed" if device == "cuda" and bf16 else "32-true"


def use_tf32(enabled: bool) -> None:
    """fp32 matmuls and convolutions in TF32 on CUDA (about 2-3x faster on Ampere and later; 10-bit mantissa)."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled

