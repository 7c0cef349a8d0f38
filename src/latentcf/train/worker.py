"""One process of a distributed training run: ``python -m latentcf.train.worker SPEC.json``.

Started by torchrun (latentcf.train.distributed.launch); SPEC holds train_model's arguments.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from latentcf.cli_errors import run_script
from latentcf.train.loop import TrainOutputs, train_model


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    train_model(
        **{**spec, "outputs": TrainOutputs(**{k: Path(v) for k, v in spec["outputs"].items()})}
    )


if __name__ == "__main__":
    run_script(main)
