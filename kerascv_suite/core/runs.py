"""Run folders: `runs/<name>/<timestamp>/`, what they hold, and finding a run to resume.

A run folder holds the resolved spec (spec.yaml) and its hash, the versions it ran with,
history.csv, the Keras backup that lets a killed run resume, the best checkpoint, and — once
the run finishes — metrics.json, curves.png and the task's pictures. metrics.json is written
last, so a folder without it is an unfinished run: running the same spec again resumes it
(refusing, with the diff, if the resolved spec has changed, unless forced). A finished run
is never written over; the next run gets a new folder.

`write_atomic` is the library's one way to write a file others may read (run records, export
reports, TFLite files): text or bytes through a temporary file and a rename. This module sits in
the lowest layer, so training, models and export all use it without importing each other.
"""

from __future__ import annotations

import difflib
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from kerascv_suite.spec.errors import UserError

FINISHED_MARKER = "metrics.json"


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write `data` (text or bytes) to `path` through a temporary file and a rename.

    Readers (TF Serving, a resumed run, a second worker) never see half a file: the data goes to a
    uniquely named temporary file in the same folder, which is then renamed into place; on any
    failure the temporary file is removed and `path` is left as it was. Missing parent folders are
    created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def empty_report_dir(out_dir: str | Path) -> Path:
    """`out_dir` (a report's --out), created; an existing folder must be empty, as results are never written over."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: already exists and is not an empty folder; results are never overwritten (choose another --out)")
    out.mkdir(parents=True, exist_ok=True)
    return out


def versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    from kerascv_suite import __version__

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__, "kerascv_suite": __version__}


def load_saved_model(run_dir: str | Path):
    """A finished run's saved model (model.keras) alone, as a keras.Model: no spec, no data pipeline."""
    import keras

    path = Path(run_dir) / "model.keras"
    if not path.is_file():
        raise UserError(f"{run_dir}: not a finished run folder with a saved model (no model.keras)")
    return keras.saving.load_model(path)


def unfinished_run(runs_dir: Path, name: str) -> Path | None:
    """The newest run folder of `name` that started but did not finish, if any."""
    root = Path(runs_dir) / name
    if not root.is_dir():
        return None
    candidates = sorted(p for p in root.iterdir() if (p / "spec.yaml").is_file())
    if candidates and not (candidates[-1] / FINISHED_MARKER).exists():
        return candidates[-1]
    return None


def new_run_dir(runs_dir: Path, name: str) -> Path:
    root = Path(runs_dir) / name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, suffix = root / stamp, 1
    while path.exists():
        suffix += 1
        path = root / f"{stamp}-{suffix}"
    path.mkdir(parents=True)
    return path


def check_resumable(run_dir: Path, spec_text: str, force: bool) -> None:
    """Refuse to resume a run whose saved spec differs from `spec_text` (a resolved spec, dumped), showing the diff."""
    saved = (run_dir / "spec.yaml").read_text()
    current = spec_text
    if saved == current or force:
        return
    diff = difflib.unified_diff(saved.splitlines(), current.splitlines(), "saved spec", "this spec", lineterm="", n=0)
    changes = "; ".join(line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---"))
    raise UserError(f"{run_dir}: cannot resume: the resolved spec differs ({changes}); pass --force to resume anyway or --new to start a new run")


def start(run_dir: Path, spec_text: str, spec_hash: str) -> None:
    """Write what identifies a run: its resolved spec (dumped), its hash and the versions it runs with."""
    write_atomic(run_dir / "spec.yaml", spec_text)
    write_atomic(run_dir / "run.json", json.dumps({"spec_hash": spec_hash, "versions": versions()}, indent=2))
