"""A fitted latent SCM on disk: ``design.json`` (plain data) and ``coefficients.npz`` (arrays).

design.json: the causal graph, the design-matrix encoding (train means/SDs/ranges, levels,
columns), the covariate mechanisms, the latent's name and shape, n, the condition number and
the ridge. coefficients.npz: ``coefficients`` B (p, K) float64, ``residual_variance`` (K,),
``r2`` (K,), ``mean_latent`` (K,), K = prod(latent shape).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentcf.errors import InputDataError
from latentcf.io import save_npz_atomic, write_json_atomic
from latentcf.scm.design import DesignSpec
from latentcf.scm.graph import CausalGraph
from latentcf.scm.mechanisms import Mechanism

DESIGN_FILE = "design.json"
COEFFICIENTS_FILE = "coefficients.npz"


@dataclass
class FittedSCM:
    """Everything the counterfactual stage needs from fit_scm."""

    graph: CausalGraph
    design: DesignSpec
    mechanisms: dict[str, Mechanism]
    latent_name: str
    latent_shape: tuple[int, ...]
    coefficients: np.ndarray  # (p, K)
    residual_variance: np.ndarray  # (K,)
    r2: np.ndarray  # (K,)
    mean_latent: np.ndarray  # (K,)
    info: dict[str, Any] = field(default_factory=dict)  # n_train, condition_number, ridge

    def save(self, design_json: str | Path, coefficients_npz: str | Path) -> None:
        write_json_atomic(
            {
                "graph": {  # a list of pairs: JSON objects are written with sorted keys
                    "parents": [[k, list(v)] for k, v in self.graph.parents.items()],
                    "image_parents": list(self.graph.image_parents),
                },
                "design": self.design.to_dict(),
                "mechanisms": {k: m.to_dict() for k, m in self.mechanisms.items()},
                "latent": {"name": self.latent_name, "shape": list(self.latent_shape)},
                **self.info,
            },
            design_json,
        )
        save_npz_atomic(
            coefficients_npz,
            coefficients=self.coefficients,
            residual_variance=self.residual_variance,
            r2=self.r2,
            mean_latent=self.mean_latent,
        )

    @classmethod
    def load(cls, design_json: str | Path, coefficients_npz: str | Path) -> FittedSCM:
        try:
            data = json.loads(Path(design_json).read_text())
            arrays = np.load(coefficients_npz, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputDataError(
                design_json, f"not a readable fitted SCM ({exc})", "Rerun fit_scm"
            ) from exc
        graph = data["graph"]
        info = {
            k: v for k, v in data.items() if k not in ("graph", "design", "mechanisms", "latent")
        }
        return cls(
            graph=CausalGraph(
                {k: tuple(v) for k, v in graph["parents"]}, tuple(graph["image_parents"])
            ),
            design=DesignSpec.from_dict(data["design"]),
            mechanisms={k: Mechanism.from_dict(m) for k, m in data["mechanisms"].items()},
            latent_name=data["latent"]["name"],
            latent_shape=tuple(data["latent"]["shape"]),
            coefficients=arrays["coefficients"],
            residual_variance=arrays["residual_variance"],
            r2=arrays["r2"],
            mean_latent=arrays["mean_latent"],
            info=info,
        )
