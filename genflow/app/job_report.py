"""A Hydra callback that reports failed jobs in one line, and a sweep's outcome per job.

A job raises its errors (``genflow.app.runtime.JobError`` for those a user can act on), so Hydra records
it as failed and a sweep (``-m``) goes on to its next job. Then:

- a single run (``on_run_end``): the job's one line on stderr and exit code 2 (bad input) or 1 (the run
  failed); an unexpected exception (a bug) goes on to Hydra and shows its traceback;
- a sweep (``on_job_end``, in whichever process or node ran the job): one line per failed job, and the
  job's outcome in ``<job dir>/job_status.json``; at the end of the sweep (``on_multirun_end``, or
  ``finish_sweep`` from the console script when Hydra's sweeper stopped on a failure) a table of every
  job's outcome and final metrics on stderr, in ``<sweep dir>/sweep_summary.json`` and as a table in
  ``<sweep dir>/sweep_summary.csv`` (a row per job: its overrides, one column per key, and the numbers of
  its ``metrics.json``), and exit code 1 if a job failed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from genflow.app import runtime
from genflow.app.runtime import job_error, print_error

RECORD = "job_status.json"
SUMMARY = "sweep_summary.json"
TABLE = "sweep_summary.csv"
METRICS = "metrics.json"
_sweep: JobReport | None = None  # the sweep started in this process, for finish_sweep()


def job_exception(job_return: JobReturn) -> BaseException | None:
    """The exception a failed job raised. ``JobReturn.return_value`` re-raises it after writing Hydra's
    'Error executing job with overrides' line, which genflow's one-line report stands for."""
    if job_return.status != JobStatus.FAILED:
        return None
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            job_return.return_value
        except Exception as e:  # noqa: BLE001 - the job's own exception, whatever it is
            return e
    return None


def final_metrics(job_dir: Path) -> dict:
    """The numbers of a job's ``metrics.json`` (none when it wrote none)."""
    try:
        metrics = json.loads((job_dir / METRICS).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(metrics, dict):
        return {}
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def override_columns(records: list[dict]) -> dict[int, dict[str, str]]:
    """Each job's overrides as ``{key: value}`` (``model=ddpm`` -> ``{"model": "ddpm"}``)."""
    return {r["num"]: dict(o.split("=", 1) if "=" in o else (o, "") for o in r["overrides"]) for r in records}


def write_table(records: list[dict], path: Path) -> Path:
    """``sweep_summary.csv``: num, status, a column per override key, a column per metric, error, dir."""
    chosen = override_columns(records)
    keys = list(dict.fromkeys(k for r in records for k in chosen[r["num"]]))
    metrics = list(dict.fromkeys(k for r in records for k in r.get("metrics", {})))
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["num", "status", *keys, *metrics, "error", "dir"])
        writer.writeheader()
        for r in records:
            writer.writerow({"num": r["num"], "status": r["status"], **chosen[r["num"]], **r.get("metrics", {}),
                             "error": r.get("error", ""), "dir": r["dir"]})
    tmp.replace(path)
    return path


def shown_metrics(metrics: dict) -> str:
    """The final metrics printed in a sweep's table: the sample's own (not the prior's or the data's)."""
    return "  ".join(f"{k}={v:.4g}" for k, v in metrics.items()
                     if k not in ("step", "nfe") and not k.startswith(("prior_", "data_")))


def reason(e: BaseException) -> tuple[str, int]:
    """(one line, exit code) for a job's exception; a bug is named by its type."""
    error = job_error(e)
    if error is not None:
        return error.message, error.code
    return " ".join(f"{type(e).__name__}: {e}".split()), 1


class JobReport(Callback):
    def __init__(self) -> None:
        self.sweep_dir: Path | None = None
        self.sweep_id: str | None = None
        self.summarized = False

    def on_run_end(self, config: DictConfig, job_return: JobReturn, **kwargs) -> None:
        e = job_exception(job_return)
        error = job_error(e) if e is not None else None
        if error is not None and not runtime.SHOW_TRACEBACKS:
            print_error(error.message)
            raise SystemExit(error.code)  # before Hydra re-raises the exception with its own banner

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        global _sweep
        self.sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
        self.sweep_id = f"{os.getpid()}-{time.time_ns()}"  # tells this sweep's records from older ones
        self.summarized = False
        _sweep = self

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        num, overrides = int(config.hydra.job.num), list(job_return.overrides or [])
        job_dir = Path(str(config.hydra.runtime.output_dir))
        record = {"sweep": self.sweep_id, "num": num, "overrides": overrides, "dir": str(job_dir),
                  "status": "completed"}
        e = job_exception(job_return)
        if e is not None:
            message, code = reason(e)
            record.update(status="failed", error=message, exit_code=code)
            where = ""
            if job_error(e) is None:  # a bug: its traceback is kept for the report
                record["traceback"] = "".join(traceback.format_exception(type(e), e, e.__traceback__))
                where = f" (traceback in {job_dir / RECORD})"
            print_error(f"job #{num} ({' '.join(overrides)}) failed: {message}{where}")
        else:
            record["metrics"] = final_metrics(job_dir)
        job_dir.mkdir(parents=True, exist_ok=True)
        tmp = job_dir / f".{RECORD}.tmp"
        tmp.write_text(json.dumps(record, indent=2))
        tmp.replace(job_dir / RECORD)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        self.summarize()

    def records(self) -> list[dict]:
        if self.sweep_dir is None or not self.sweep_dir.is_dir():
            return []
        found = []
        for path in self.sweep_dir.rglob(RECORD):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if record.get("sweep") == self.sweep_id:
                found.append(record)
        return sorted(found, key=lambda r: r["num"])

    def summarize(self) -> list[dict]:
        """Print the table of the sweep's jobs (once) and write it to the sweep directory."""
        records = self.records()
        if self.summarized or not records:
            return records
        self.summarized = True
        failed = [r for r in records if r["status"] == "failed"]
        lines = [f"genflow: sweep {self.sweep_dir}: {len(records) - len(failed)} of {len(records)} jobs completed"
                 + (f", {len(failed)} failed" if failed else "")]
        shared = set.intersection(*(set(r["overrides"]) for r in records)) if len(records) > 1 else set()
        label = {r["num"]: " ".join(o for o in r["overrides"] if o not in shared) for r in records}
        width = max(len(text) for text in label.values())
        for r in records:
            line = f"  #{r['num']:<3} {r['status']:<9} {label[r['num']]:<{width}}"
            lines.append((line + f"  {r['error'] if r['status'] == 'failed' else shown_metrics(r.get('metrics', {}))}")
                         .rstrip())
        (self.sweep_dir / SUMMARY).write_text(json.dumps(records, indent=2))
        lines.append(f"  (every job's overrides and metrics.json: {write_table(records, self.sweep_dir / TABLE)})")
        print("\n".join(lines), file=sys.stderr)
        return records


def finish_sweep() -> int | None:
    """After a sweep started in this process: its summary (printed once) and exit code, 0 or 1 if a job
    failed; None if no job of a sweep has ended (nothing to summarise). Forgets the sweep."""
    global _sweep
    sweep, _sweep = _sweep, None
    records = sweep.summarize() if sweep is not None else []
    if not records:
        return None
    return 1 if any(r["status"] == "failed" for r in records) else 0
