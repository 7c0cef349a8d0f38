"""latentcf.antslib: antspyx without its plotting, learn and deeplearn subpackages, and the
library this project calls still whole; an ants imported before is used as it is."""

from __future__ import annotations

import subprocess
import sys

LIGHT = """
import sys
from latentcf.antslib import ants
print(*(name in sys.modules for name in ("sklearn", "matplotlib.pyplot")))
print(*(hasattr(ants, name) for name in ("plot", "registration", "n4_bias_field_correction")))
image = ants.from_numpy(__import__("numpy").ones((8, 8, 8), dtype="float32"))
print(ants.resample_image(image, (2.0, 2.0, 2.0), use_voxels=False).shape)
"""

FULL_FIRST = """
import ants
from latentcf.antslib import ants as ours
print(ours is ants, hasattr(ours, "plot"))
"""


def _run(code: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.split("\n")


def test_unused_subpackages_are_not_loaded_and_the_rest_works():
    lines = _run(LIGHT)
    assert lines[0] == "False False"  # neither scikit-learn nor pyplot came with ants
    assert lines[1] == "False True True"
    assert lines[2] == "(4, 4, 4)"


def test_an_ants_imported_before_is_used_as_it_is():
    assert _run(FULL_FIRST)[0] == "True True"
