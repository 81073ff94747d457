"""`make bench`: runs every benchmark of bench/ in turn, each as a process of its own, and prints ONE
combined table of their figures (benchmark, figure, measured, target, met, command), then one JSON
line with all of them. This file is the runner, not a benchmark: it never runs itself.

    .venv/bin/python bench/run_all.py [--quick] [--only ledger,history] [--skip end_of_day]
                                      [--args 'ledger=--rounds 3 --seconds 3'] [--markdown FILE]
                                      [--logs DIR] [--quiet] [--timeout SECONDS]

Each benchmark's own output is streamed as it runs (--quiet: only to its log) and kept in
<logs>/<name>.log (default var/bench/<date-time>/); its figures are read from its last JSON line.
--quick (or BENCH_QUICK=1) passes short durations and small data sets to every benchmark: a smoke
check that everything runs, with figures that are not the project's. --args adds or overrides a
benchmark's arguments (later ones win, as argparse takes them). --markdown FILE also writes the
combined table as Markdown, for the README's performance section.

Exit status: 1 if a benchmark failed (it crashed, printed no JSON line, or its integrity check
failed: check_ledger for the ledger benchmarks, every delivery once for the worker); never for a
timing target missed (the table's "met" column says that). 2 for wrong arguments.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import _common

BENCH_DIR = _common.BENCH_DIR
ROOT = _common.ROOT
GUARD = "BENCH_RUN_ALL"  # set for the benchmarks it runs: the runner refuses to run inside one


@dataclass
class Figure:
    key: str  # in the benchmark's JSON line
    label: str  # str.format()ted with the JSON line (falls back to the text as it is)
    op: str = ""  # ">=", "<=", "<", ">", or "" for no target
    target_key: str = ""  # the target as the benchmark reports it, if it does
    target: float | None = None  # else this one
    digits: int = 1


@dataclass
class Bench:
    name: str
    quick: list[str]  # arguments of --quick (the full run: the benchmark's own defaults)
    figures: list[Figure]
    integrity: str = ""  # a JSON key that is true when the benchmark's integrity check passed
    integrity_label: str = "check_ledger: ledger consistent"
    args: list[str] = field(default_factory=list)


def _web_memory() -> list[Figure]:
    return [
        Figure("web_peak_rss_mb", "peak RSS of a server worker, MB (largest of {web_processes})"),
        Figure("web_peak_rss_mb_sum", "peak RSS of the {web_processes} server workers, MB (sum)"),
    ]


BENCHES = [  # in the order they run: the long ones (minutes at full size) last
    Bench(
        "ledger",
        ["--rounds", "1", "--seconds", "2"],
        [
            Figure("service_tps", "post() transfers/s ({workers} workers)"),
            Figure("raw_sql_tps", "raw-SQL transfers/s ({workers} workers)"),
            Figure("ratio", "ratio post() / raw SQL", ">=", "ratio_target", 0.5, 3),
            Figure(
                "hot_merchant_ratio",
                "hot_merchant_ratio: {workers} payers to ONE merchant / disjoint pairs",
                ">=",
                "hot_merchant_ratio_target",
                0.8,
                3,
            ),
        ],
        integrity="check_ledger_ok",
    ),
    Bench(
        "terminals",
        ["--rounds", "1", "--seconds", "2"],
        [
            Figure("topups_per_s", "terminal top-ups/s ({workers} terminals, {server})"),
            Figure("raw_sql_tps", "raw-SQL transfers/s, same run"),
            Figure("ratio_to_raw_sql", "ratio top-ups / raw SQL", ">=", "ratio_target", 0.2, 3),
            Figure("p99_ms", "p99 latency of a top-up, ms", "<", "p99_target_ms", 100.0),
            *_web_memory(),
        ],
        integrity="check_ledger_ok",
    ),
    Bench(
        "payments",
        ["--rounds", "1", "--seconds", "3", "--raw-seconds", "2", "--warmup", "1"],
        [
            Figure("flows_per_s", "complete payment flows/s ({clients} customers, {server})"),
            Figure("raw_sql_tps", "raw-SQL transfers/s, same run"),
            Figure("ratio_to_raw_sql", "ratio flows / raw SQL", ">=", "ratio_target", 0.08, 4),
            Figure("p99_ms", "p99 latency per request, ms", "<", "p99_target_ms", 100.0),
            *_web_memory(),
        ],
        integrity="check_ledger_ok",
    ),
    Bench(  # calibration: how the payments ratio scales on this machine
        "bare_drf",
        ["--rounds", "1", "--seconds", "2"],
        [
            Figure(
                "bare_per_s", "bare DRF endpoint running the raw transfer, requests/s ({clients} clients)"
            ),
            Figure("ratio_to_raw_sql", "ratio bare DRF / raw SQL (the payments issue: about 0.26)", digits=3),
            Figure("per_flow_of_three", "the same / 3: a flow of three bare requests", digits=3),
        ],
    ),
    Bench(
        "worker",
        ["--count", "200"],
        [
            Figure("deliveries_per_s", "SMS + webhook deliveries/s ({worker})"),
            Figure(
                "worker_peak_rss_mb",
                "peak RSS of a Celery worker process, MB (largest of {worker_processes})",
            ),
            Figure("worker_peak_rss_mb_sum", "peak RSS of the Celery worker, MB (sum of {worker_processes})"),
        ],
        integrity="delivered_ok",
        integrity_label="every SMS and webhook delivered once, signatures valid",
    ),
    Bench(
        "end_of_day",
        ["--transactions", "20000", "--merchants", "100"],
        [
            Figure("eod_seconds", "end of day over {transactions:,} card transactions, s", digits=3),
            Figure("sql_baseline_seconds", "hand-written INSERT ... SELECT ... GROUP BY, s", digits=3),
            Figure("ratio", "ratio end of day / SQL baseline", "<=", "", 3.0, 2),
            Figure("peak_rss_mb", "peak RSS of the end-of-day process, MB", "<", "", 500.0),
        ],
        integrity="ledger_clean",
    ),
    Bench(
        "history",
        ["--postings", "100000", "--requests", "50"],
        [
            Figure(
                "p50_ms_small", "balance + last 20 operations, p50 ms, {postings_small:,} postings", digits=2
            ),
            Figure(
                "p50_ms_large", "balance + last 20 operations, p50 ms, {postings_large:,} postings", digits=2
            ),
            Figure("ratio", "ratio large / small", "<=", "", 2.0, 3),
        ],
        integrity="ledger_clean",
    ),
]
KNOWN = {b.name: b for b in BENCHES}


def discover() -> list[Bench]:
    """The benchmarks: bench/[a-z]*.py except this runner, the known ones in their order, any other
    after them (run and reported by exit status; their JSON line goes into the combined one)."""
    here = Path(__file__).resolve().name
    names = sorted(p.stem for p in BENCH_DIR.glob("[a-z]*.py") if p.name != here)
    known = [b for b in BENCHES if b.name in names]
    return known + [Bench(name, [], []) for name in names if name not in KNOWN]


# --- running -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    bench: Bench
    command: list[str]
    log: Path
    returncode: int | None = None
    seconds: float = 0.0
    result: dict | None = None
    problem: str = ""  # why it failed, "" if it did not

    @property
    def failed(self) -> bool:
        return bool(self.problem)


def shown(command: list[str]) -> str:
    """The command as typed from the repository's root."""
    parts = list(command)
    for i, part in enumerate(parts[:2]):
        path = Path(part)
        if path.is_absolute() and path.is_relative_to(ROOT):
            parts[i] = str(path.relative_to(ROOT))
    return shlex.join(parts)


def last_json(lines: list[str]) -> dict | None:
    for line in reversed(lines):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def run(bench: Bench, *, quick: bool, logs: Path, quiet: bool, timeout: float | None) -> Outcome:
    args = (bench.quick if quick else []) + bench.args
    command = [sys.executable, str(BENCH_DIR / f"{bench.name}.py"), *args]
    outcome = Outcome(bench, command, logs / f"{bench.name}.log")
    banner = f"== {bench.name}: {shown(command)}"
    print(banner, flush=True)
    lines: list[str] = []
    started = time.monotonic()
    env = {**os.environ, GUARD: "1", "PYTHONUNBUFFERED": "1"}
    with outcome.log.open("w") as log:
        log.write(banner + "\n")
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        timer = threading.Timer(timeout, proc.terminate) if timeout else None
        if timer:
            timer.start()
        try:
            for line in proc.stdout:
                lines.append(line)
                log.write(line)
                if not quiet:
                    sys.stdout.write(line)
                    sys.stdout.flush()
            proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait(timeout=30)
            raise
        finally:
            if timer:
                timer.cancel()
        if timer and time.monotonic() - started >= timeout:
            outcome.problem = f"stopped after {timeout:g} s"
    outcome.returncode = proc.returncode
    outcome.seconds = time.monotonic() - started
    outcome.result = last_json(lines)
    if not outcome.problem:
        if outcome.result is None:
            outcome.problem = f"no JSON line (exit {proc.returncode})"
        elif bench.integrity and outcome.result.get(bench.integrity) is not True:
            outcome.problem = (
                f"integrity check failed ({bench.integrity}: {outcome.result.get(bench.integrity)})"
            )
        elif proc.returncode != 0:
            outcome.problem = f"exit {proc.returncode}"
    status = f"FAILED: {outcome.problem}" if outcome.failed else "ok"
    print(
        f"== {bench.name}: {status} in {outcome.seconds:.0f} s (log {shown([str(outcome.log)])})\n",
        flush=True,
    )
    return outcome


# --- the combined table --------------------------------------------------------------------------


def label_of(figure: Figure, data: dict) -> str:
    try:
        return figure.label.format(**data)
    except (KeyError, IndexError, ValueError):
        return re.sub(r"\{[^}]*\}", "?", figure.label)  # no JSON line: no value to put in


def compare(value: float, op: str, target: float) -> bool:
    return {">=": value >= target, "<=": value <= target, ">": value > target, "<": value < target}[op]


def number(value, digits: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def rows_of(outcome: Outcome) -> list[dict]:
    """The combined table's rows for one benchmark: its figures, then its integrity check."""
    bench, data = outcome.bench, outcome.result or {}
    command = shown(outcome.command)
    rows = []
    for f in bench.figures:
        value = data.get(f.key)
        target = data.get(f.target_key, f.target) if f.target_key else f.target
        met = ""
        if f.op and target is not None:
            ok = isinstance(value, int | float) and not math.isnan(value) and compare(value, f.op, target)
            met = "yes" if ok else "no"
        rows.append(
            {
                "benchmark": bench.name,
                "key": f.key,
                "figure": label_of(f, data),
                "value": value,
                "measured": number(value, f.digits),
                "target": f"{f.op} {target:g}" if f.op and target is not None else "",
                "met": met,
                "command": command,
            }
        )
    check = "ok" if not outcome.failed else f"FAILED: {outcome.problem}"
    label = bench.integrity_label if bench.integrity else "ran (exit status 0, a JSON line)"
    rows.append(
        {
            "benchmark": bench.name,
            "key": "ok",
            "figure": label,
            "value": not outcome.failed,
            "measured": check,
            "target": "ok",
            "met": "yes" if not outcome.failed else "no",
            "command": command,
        }
    )
    return rows


COLUMNS = ["benchmark", "figure", "measured", "target", "met", "command"]


def print_combined(rows: list[dict], title: str) -> None:
    _common.print_table(COLUMNS, [[r[c] or "-" for c in COLUMNS] for r in rows], title=title)


def markdown(rows: list[dict], heading: str) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|")

    out = [heading, "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        values = [r["benchmark"], r["figure"], r["measured"], r["target"], r["met"], f"`{r['command']}`"]
        out.append("| " + " | ".join(cell(v or "-") for v in values) + " |")
    return "\n".join(out) + "\n"


def memory(outcomes: list[Outcome]) -> dict:
    """The peak-memory keys of the combined JSON line: the largest over the benchmarks that report
    them (web: the server workers of terminals and payments; worker: the Celery worker)."""
    found: dict = {}
    for key in ("web_peak_rss_mb", "web_peak_rss_mb_sum", "worker_peak_rss_mb", "worker_peak_rss_mb_sum"):
        values = [o.result[key] for o in outcomes if o.result and isinstance(o.result.get(key), int | float)]
        found[key] = max(values) if values else None
    return found


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK", "").lower() in {"1", "true", "yes", "on"},
        help="short durations, small data sets: a smoke check (also BENCH_QUICK=1)",
    )
    parser.add_argument("--only", default="", help="comma-separated benchmark names to run (default: all)")
    parser.add_argument("--skip", default="", help="comma-separated benchmark names not to run")
    parser.add_argument(
        "--args",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="more arguments for one benchmark, e.g. 'ledger=--rounds 3 --seconds 3' (repeatable)",
    )
    parser.add_argument("--markdown", default="", metavar="FILE", help="also write the table as Markdown")
    parser.add_argument("--logs", default="", metavar="DIR", help="log directory (default var/bench/<time>)")
    parser.add_argument("--quiet", action="store_true", help="benchmark output to the logs only")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds per benchmark before it is stopped"
    )
    args = parser.parse_args()

    if os.environ.get(GUARD):
        print(
            "bench/run_all.py: started by run_all.py itself; it runs the benchmarks, it is not one",
            file=sys.stderr,
        )
        return 2
    benches = discover()
    names = {b.name for b in benches}
    only = {n for n in args.only.split(",") if n}
    skip = {n for n in args.skip.split(",") if n}
    unknown = (only | skip) - names
    for spec in args.args:
        name, _, extra = spec.partition("=")
        if name not in names:
            unknown.add(name)
        else:
            next(b for b in benches if b.name == name).args += shlex.split(extra)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; there are {sorted(names)}")
    benches = [b for b in benches if (not only or b.name in only) and b.name not in skip]

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    logs = Path(args.logs) if args.logs else ROOT / "var" / "bench" / stamp
    logs.mkdir(parents=True, exist_ok=True)
    mode = "quick (smoke check: short runs, small data)" if args.quick else "full"
    print(
        f"bench/run_all.py: {len(benches)} benchmark(s), {mode}, logs in {shown([str(logs)])},"
        f" commit {git_commit()}, {_common.machine()}\n",
        flush=True,
    )
    started = time.monotonic()
    outcomes = [run(b, quick=args.quick, logs=logs, quiet=args.quiet, timeout=args.timeout) for b in benches]

    rows = [row for o in outcomes for row in rows_of(o)]
    failed = [o.bench.name for o in outcomes if o.failed]
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    title = (
        f"All benchmarks ({mode}), {when}, commit {git_commit()}, {_common.machine()['cpus']} CPUs,"
        f" {time.monotonic() - started:.0f} s"
    )
    print()
    print_combined(rows, title)
    peaks = memory(outcomes)

    def mb(key):
        return "-" if peaks[key] is None else f"{peaks[key]:.0f} MB"

    print(
        f"\npeak memory (VmHWM): web, the largest server worker {mb('web_peak_rss_mb')}"
        f" (all workers of one server {mb('web_peak_rss_mb_sum')}); worker, the largest Celery process"
        f" {mb('worker_peak_rss_mb')} (the whole worker {mb('worker_peak_rss_mb_sum')})"
    )
    print(
        "benchmarks: "
        + ", ".join(f"{o.bench.name} {'FAILED' if o.failed else 'ok'} ({o.seconds:.0f} s)" for o in outcomes)
    )
    if args.markdown:
        heading = (
            f"Figures of the last {'quick' if args.quick else 'full'} run: `make bench`"
            f"{' BENCH_QUICK=1' if args.quick else ''} on {when}, commit {git_commit()},"
            f" {_common.machine()['cpus']} CPUs (written by bench/run_all.py --markdown)."
        )
        Path(args.markdown).write_text(markdown(rows, heading))
        print(f"markdown table: {args.markdown}")
    combined = {
        "bench": "all",
        "quick": args.quick,
        "failed": failed,
        **peaks,
        "figures": {f"{r['benchmark']}.{r['key']}": r["value"] for r in rows},
        "met": {
            f"{r['benchmark']}.{r['key']}": r["met"] == "yes" for r in rows if r["met"] and r["key"] != "ok"
        },
        "commands": {o.bench.name: shown(o.command) for o in outcomes},
        "results": {o.bench.name: o.result for o in outcomes},
        "logs": str(logs),
        **_common.machine(),
    }
    (logs / "results.json").write_text(json.dumps(combined, indent=2, default=str) + "\n")
    _common.print_json(combined)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
