"""Make ``import ml4gw`` work on a CPU build of torch (DESIGN §9, the torchaudio trap).

ml4gw 0.8.0 imports torchaudio, whose compiled extension is linked against CUDA; on CPU torch loading it raises
``OSError: Could not load this library: .../_torchaudio.abi3.so``. torchaudio itself only needs to know that the
extension is absent (it then uses its pure-PyTorch code paths), so on CPU torch we register a stub
``torchaudio._extension`` that says so before torchaudio is imported.

Import this module before ml4gw, in every node program that uses it::

    import executables.common.torchcompat  # noqa: F401  (before ml4gw)
    from ml4gw.transforms import Whiten

Importing it calls ``ensure_ml4gw_importable()``; calling that again does nothing.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import TypeVar

import torch

_EXTENSION = "torchaudio._extension"

F = TypeVar("F", bound=Callable[..., object])


def _keep(function: F) -> F:
    """Stand-in for torchaudio's ``fail_if_no_align`` decorator: forced-alignment code is never called here."""
    return function


def ensure_ml4gw_importable(force: bool = False) -> None:
    """On CPU torch (or with ``force``: a torchaudio built for another torch, as on a lent GPU machine), register a
    stub ``torchaudio._extension`` unless torchaudio's own is already loaded."""
    if (torch.version.cuda is not None and not force) or _EXTENSION in sys.modules:
        return
    stub = types.ModuleType(_EXTENSION, "aframe-dag stub: torchaudio's compiled extension needs CUDA")
    stub._IS_TORCHAUDIO_EXT_AVAILABLE = False  # type: ignore[attr-defined]
    stub._IS_ALIGN_AVAILABLE = False  # type: ignore[attr-defined]
    stub.fail_if_no_align = _keep  # type: ignore[attr-defined]
    sys.modules[_EXTENSION] = stub


ensure_ml4gw_importable()
