"""A user's local TorchScript feature network (perceptual loss, FID): nothing is downloaded.

:func:`load_feature_network` loads it frozen (eval mode, no gradients); errors name the config key
that gave the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from latentcf.errors import ConfigError


def load_feature_network(path: str | Path, key: str) -> nn.Module:
    """A frozen TorchScript module from the local file `path` (CPU; move it where needed).

    Raises ConfigError naming `key` and the file when it is missing or not a TorchScript module.
    """
    path = Path(path)
    fix = "Give a local TorchScript file (torch.jit.save); nothing is downloaded"
    if not path.is_file():
        raise ConfigError(key, f"file {str(path)!r} not found", fix)
    try:
        with warnings.catch_warnings():  # torch.jit is deprecated in recent torch, still works
            warnings.simplefilter("ignore", DeprecationWarning)
            net = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # not a zip, not TorchScript, unsupported ops...
        first = (str(exc).splitlines() or [""])[0][:200]
        raise ConfigError(
            key,
            f"file {str(path)!r} is not a loadable TorchScript module ({type(exc).__name__}: {first})",
            fix,
        ) from exc
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net
