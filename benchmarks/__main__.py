"""Run the benchmarks: `uv run python -m benchmarks [--quick] [--only NAME ...]`.

Each benchmark runs in a fresh process of its own (so one's memory, threads and imports
never colour another's numbers); this process collects the results, prints a table and
merges them into benchmarks/results.json (the latest full and quick run of each).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.harness import BenchResult

Json = dict[str, Any]
REPO = Path(__file__).resolve().parent.parent

# name -> module; each module has `async def run(quick: bool) -> BenchResult`.
BENCHMARKS: dict[str, str] = {
    "overhead": "benchmarks.overhead",
    "cpu": "benchmarks.cpu",
    "concurrency": "benchmarks.concurrency",
    "images": "benchmarks.image_pipeline",
    "store": "benchmarks.store",
    "scale": "benchmarks.scale",
    "memory": "benchmarks.memory",
    "quotas": "benchmarks.quotas",
    "observability": "benchmarks.observability",
    "grid": "benchmarks.grid",
}
RESULTS = Path(__file__).resolve().parent / "results.json"
SCHEMA_VERSION = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of the bot against the loopback fakes of Discord and Gemini.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: the whole suite in under a minute"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        choices=sorted(BENCHMARKS),
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help=f"JSON results file (default: {RESULTS})"
    )
    parser.add_argument(
        "--fail-on-miss", action="store_true", help="exit with status 1 when a target is missed"
    )
    parser.add_argument("--child", metavar="NAME", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.child:
        return _run_child(args.child, quick=args.quick, result_file=args.result_file)
    names = args.only or list(BENCHMARKS)
    mode = "quick" if args.quick else "full"
    print(f"Running {', '.join(names)} ({mode} mode)", file=sys.stderr)
    entries: dict[str, Json] = {}
    crashed: list[str] = []
    for name in names:  # each in a fresh process: shared, they skew each other's numbers
        entries.update({entry["name"]: entry for entry in _run_in_subprocess([name], args.quick)})
        if name not in entries:
            crashed.append(name)
    print(render_table(list(entries.values())))
    _write_results(args.output, entries)
    print(f"\nResults written to {_shown(args.output)}", file=sys.stderr)
    missed = [
        f"{entry['name']}: {metric['name']}"
        for entry in entries.values()
        for metric in entry["metrics"]
        if metric["met"] is False
    ]
    if crashed:
        print(f"Benchmarks that failed to run: {', '.join(crashed)}", file=sys.stderr)
        return 1
    return 1 if missed and args.fail_on_miss else 0


# --------------------------------------------------------------------------- one benchmark


def _run_in_subprocess(names: list[str], quick: bool) -> list[Json]:
    """Run `names` one after the other in a fresh process; the entries of those that ran."""
    label = ", ".join(names)
    print(f"\n== {label}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-result-") as tmp:
        result_file = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "benchmarks", "--child", ",".join(names)]
        command += ["--result-file", str(result_file)] + (["--quick"] if quick else [])
        started = time.perf_counter()
        completed = subprocess.run(command, cwd=REPO, check=False)
        elapsed = time.perf_counter() - started
        entries: list[Json] = json.loads(result_file.read_text()) if result_file.exists() else []
    if completed.returncode != 0:
        print(f"!! {label}: exit status {completed.returncode}", file=sys.stderr)
    print(f"== {label} done in {elapsed:.1f}s", file=sys.stderr)
    return entries


def _run_child(names: str, *, quick: bool, result_file: Path | None) -> int:
    """Run the comma-separated benchmarks here; each finished one is written at once."""
    entries: list[Json] = []
    for name in names.split(","):
        entries.append(_run_one(name, quick=quick))
        text = json.dumps(entries, indent=2)
        if result_file is None:
            print(text)
        else:
            result_file.write_text(text)
    return 0


def _run_one(name: str, *, quick: bool) -> Json:
    from benchmarks.harness import quiet_logging

    errors = quiet_logging()
    calibration = _cpu_calibration_ms()
    module = importlib.import_module(BENCHMARKS[name])
    started = time.perf_counter()
    ran_at = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    result: BenchResult = asyncio.run(module.run(quick))
    result.duration_s = time.perf_counter() - started
    entry = {
        **result.as_json(),
        "ran_at": ran_at,
        # Other work on the machine skews every number: the 1-minute load average, before
        # and after (the benchmark's own processes count too).
        "load_average": {"before": load_before[0], "after": os.getloadavg()[0]},
        # How fast this machine ran plain Python just before (lower is faster; ~250 ms on
        # the 2-core reference machine): compare runs only when these agree.
        "cpu_calibration_ms": calibration,
        "errors_logged": errors.messages,
    }
    logging.getLogger().removeHandler(errors)
    return entry


def _cpu_calibration_ms() -> float:
    """Best of 3: a fixed pure-Python loop (3 million multiply-adds)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        sum(i * i for i in range(3_000_000))
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


# --------------------------------------------------------------------------- output


def _format_value(value: float, unit: str) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render_table(entries: Sequence[Json]) -> str:
    header = ("benchmark", "metric", "value", "unit", "target", "status")
    rows: list[tuple[str, ...]] = []
    for entry in entries:
        label = entry["name"] + (" (quick)" if entry["quick"] else "")
        for metric in entry["metrics"]:
            status = {True: "met", False: "MISSED", None: ""}[metric["met"]]
            rows.append(
                (
                    label,
                    metric["name"],
                    _format_value(metric["value"], metric["unit"]),
                    metric["unit"],
                    metric["target"] or "",
                    status,
                )
            )
            label = ""
        if entry.get("errors_logged"):
            rows.append(("", f"errors logged: {len(entry['errors_logged'])}", "", "", "", "!"))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right = {2}  # values align right

    def line(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def _environment() -> Json:
    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "packages": {
            p: version(p) for p in ("discord.py", "google-genai", "pillow", "aiosqlite", "aiohttp")
        },
        "git": _git_state(),
    }


def _git_state() -> Json:
    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        )
        return completed.stdout.strip()

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


def _write_results(path: Path, entries: dict[str, Json]) -> None:
    """Merge `entries` into the results file, atomically.

    The file keeps the latest full and the latest quick run of each benchmark:
    `benchmarks.<name>.full` and `benchmarks.<name>.quick`.
    """
    existing: dict[str, Any] = {}
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except ValueError:
            existing = {}
    previous: dict[str, dict[str, Json]] = (
        existing.get("benchmarks", {}) if existing.get("schema_version") == SCHEMA_VERSION else {}
    )
    environment = _environment()
    merged = {name: dict(modes) for name, modes in previous.items()}
    for name, entry in entries.items():
        mode = "quick" if entry["quick"] else "full"
        merged.setdefault(name, {})[mode] = {**entry, "environment": environment}
    document = {
        "schema_version": SCHEMA_VERSION,
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "benchmarks": {name: merged[name] for name in BENCHMARKS if name in merged},
    }
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    temporary.replace(path)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
