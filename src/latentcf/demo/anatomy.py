"""Base anatomy of the demo cohort: the ICBM 2009c template with skull, its brain mask and
the CerebrA atlas mapped to FreeSurfer label ids (all 1 mm, 193x229x193, RAS).

The atlas itself (the CerebrA -> FreeSurfer mapping, white matter and CSF by template
intensity) lives in :mod:`latentcf.atlas`, shared with the atlas segmentation backend; this
module names what the demo uses of it.
"""

from __future__ import annotations

import pandas as pd

from latentcf.atlas import FS_NAMES, STRUCTURES, Anatomy, cerebra_to_freesurfer, load_anatomy

__all__ = [
    "FS_NAMES",
    "STRUCTURE_GROUPS",
    "Anatomy",
    "cerebra_to_freesurfer",
    "dseg_table",
    "load_anatomy",
]

# Structure groups that the causal model deforms (FreeSurfer ids, both hemispheres).
STRUCTURE_GROUPS: dict[str, tuple[int, ...]] = {
    name: STRUCTURES[name] for name in ("hippocampus", "amygdala", "lateral_ventricles", "cortex")
}


def dseg_table() -> pd.DataFrame:
    """BIDS dseg.tsv table (index, name) of every label id used in the truth label maps."""
    return pd.DataFrame({"index": list(FS_NAMES), "name": list(FS_NAMES.values())})
