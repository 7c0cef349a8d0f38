"""The segment job's imports stay light: antspyx only for the atlas, onnxruntime only for onnx."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import latentcf.segment
print("ants" in sys.modules, "onnxruntime" in sys.modules)
latentcf.segment.build_segmenter(None, 4)
print("ants" in sys.modules, "onnxruntime" in sys.modules)
"""


def test_heavy_libraries_load_only_with_their_backend():
    out = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "False", "True", "False"]
