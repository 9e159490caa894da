"""The aframe network: ml4gw's ``ResNet1D`` with GroupNorm, one logit per whitened (ifos, kernel) sample."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

import executables.common.torchcompat  # noqa: F401  (before ml4gw)

# isort: split
from ml4gw.nn.norm import GroupNorm1DGetter
from ml4gw.nn.resnet import ResNet1D


def build_resnet(num_ifos: int, layers: Sequence[int], norm_groups: int | None = 16,
                 kernel_size: int = 3) -> torch.nn.Module:
    """ResNet1D over ``num_ifos`` channels with ``len(layers)`` stages, GroupNorm(``norm_groups``), one output."""
    return ResNet1D(
        in_channels=num_ifos,
        layers=list(layers),
        classes=1,
        kernel_size=kernel_size,
        norm_layer=GroupNorm1DGetter(norm_groups),
    )


def build_model(model_config: dict[str, Any], num_ifos: int) -> torch.nn.Module:
    """The network of ``train.yaml``'s ``model`` section for ``num_ifos`` detectors."""
    return build_resnet(num_ifos, model_config["layers"], model_config.get("norm_groups", 16),
                        int(model_config.get("kernel_size", 3)))


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def to_torchscript(model: torch.nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """TorchScript of ``model`` (eval mode, CPU, float32) taking whitened ``(batch, ifos, kernel)`` input."""
    model = model.eval().to("cpu", torch.float32)
    try:
        return torch.jit.script(model)
    except Exception:  # ml4gw modules that TorchScript cannot compile: tracing works for a fixed graph
        with torch.no_grad():
            return torch.jit.trace(model, example.to("cpu", torch.float32))
