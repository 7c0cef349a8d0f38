"""Run a Snakemake `script:` adapter with logging to the rule's log and clean user errors.

A :class:`LatentCFError` (bad data or config) is printed as one line naming the file/key and
what is wrong, to the rule's log and to stderr, and the job exits with status 1 without a
traceback; Snakemake then removes the job's outputs, so nothing partial survives. Any other
exception is a bug: it propagates with its traceback (into the log as well).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any

from latentcf.errors import LatentCFError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run_script(main: Callable[..., Any], smk: Any | None = None) -> None:
    """Call `main(smk)` (or `main()` when `smk` is None) with stdout/stderr/logging sent to the log.

    `smk` is the `snakemake` object injected into `script:` files; its first log file, if any,
    receives everything the step prints (including progress bars).
    """
    log_path = None
    if smk is not None and len(getattr(smk, "log", [])) > 0:
        log_path = str(smk.log[0])
    console = sys.stderr  # before the redirection below
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(open(log_path, "a", buffering=1)) if log_path else console
        if log_path:
            stack.enter_context(contextlib.redirect_stdout(stream))
            stack.enter_context(contextlib.redirect_stderr(stream))
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            main(smk) if smk is not None else main()
        except LatentCFError as exc:
            message = f"ERROR: {exc}"
            print(message, file=stream, flush=True)
            if stream is not console:
                where = f" (log: {log_path})" if log_path else ""
                print(message + where, file=console, flush=True)
            raise SystemExit(1) from None
        except Exception:
            traceback.print_exc(file=stream)
            raise
        finally:
            root.removeHandler(handler)
