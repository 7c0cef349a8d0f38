"""antspyx, imported without the parts of it this project never calls.

``import ants`` (antspyx 0.6.3) imports every subpackage eagerly, among them its plotting, its
PCA/decomposition and its deep-learning helpers, which load matplotlib.pyplot and scikit-learn and
take a good part of the time ``import ants`` takes, paid again by every job that registers,
resamples or corrects an image. ``ants/__init__.py`` only star-imports these three subpackages and
no other part of antspyx imports them, so here they are replaced by empty modules before ants is
imported: ``ants.plot``, ``ants.learn.*`` and ``ants.deeplearn.*`` do not exist in a process that
imported ants through this module; everything else (registration, resampling, N4, transforms, I/O)
is the unchanged library. If ants was imported before, that module is used as it is.
"""

from __future__ import annotations

import sys
import types

#: antspyx subpackages that ``ants/__init__.py`` star-imports and nothing else of antspyx uses.
UNUSED_SUBPACKAGES = ("ants.plotting", "ants.learn", "ants.deeplearn")


def _import_ants() -> types.ModuleType:
    if "ants" not in sys.modules:
        for name in UNUSED_SUBPACKAGES:
            sys.modules.setdefault(name, types.ModuleType(name, "not loaded (latentcf.antslib)"))
    import ants

    return ants


ants = _import_ants()
