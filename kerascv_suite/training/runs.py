"""Run folders: `runs/<name>/<timestamp>/`, what they hold, and finding a run to resume.

A run folder holds the resolved spec (spec.yaml) and its hash, the versions it ran with,
history.csv, the Keras backup that lets a killed run resume, the best checkpoint, and — once
the run finishes — metrics.json, curves.png and the task's pictures. metrics.json is written
last, so a folder without it is an unfinished run: running the same spec again resumes it
(refusing, with the diff, if the resolved spec has changed, unless forced). A finished run
is never written over; the next run gets a new folder.
"""

from __future__ import annotations

import difflib
import json
import os
import platform
import time
from pathlib import Path

from kerascv_suite.spec import dump_spec, spec_hash
from kerascv_suite.spec.errors import UserError

FINISHED_MARKER = "metrics.json"


def write_atomic(path: Path, text: str) -> None:
    """Write a file through a temporary file and a rename, so readers never see half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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


def check_resumable(run_dir: Path, spec, force: bool) -> None:
    """Refuse to resume a run whose resolved spec differs from `spec`, showing the diff."""
    saved = (run_dir / "spec.yaml").read_text()
    current = dump_spec(spec)
    if saved == current or force:
        return
    diff = difflib.unified_diff(saved.splitlines(), current.splitlines(), "saved spec", "this spec", lineterm="", n=0)
    changes = "; ".join(line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---"))
    raise UserError(f"{run_dir}: cannot resume: the resolved spec differs ({changes}); pass --force to resume anyway or --new to start a new run")


def start(run_dir: Path, spec) -> None:
    """Write what identifies a run: its resolved spec, its hash and the versions it runs with."""
    write_atomic(run_dir / "spec.yaml", dump_spec(spec))
    write_atomic(run_dir / "run.json", json.dumps({"spec_hash": spec_hash(spec), "versions": versions()}, indent=2))
