"""Run every benchmark under bench/ and print one table: figure, floor (same run), ratio, budget, pass/fail.

.venv/bin/python bench/run_all.py            # quick sizes, about 10 minutes
.venv/bin/python bench/run_all.py --full     # the budgets' sizes (1M leads); much longer
.venv/bin/python bench/run_all.py --tiny     # seconds; CI runs this so the scripts cannot rot
"""

import argparse
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> {size: extra arguments}
BENCHMARKS = {
    "ingest.py": {
        "tiny": ["--leads", "300", "--activities", "3000"],
        "quick": ["--leads", "20000", "--activities", "100000"],
        "full": ["--leads", "100000", "--activities", "500000"],
    },
    "rescore.py": {"tiny": ["--leads", "500"], "quick": ["--leads", "100000"], "full": ["--leads", "1000000"]},
    "queue_page.py": {"tiny": ["--leads", "500", "--fresh"], "quick": ["--leads", "100000"], "full": ["--leads", "1000000"]},
    "dashboard.py": {"tiny": ["--leads", "500", "--fresh"], "quick": ["--leads", "100000"], "full": ["--leads", "1000000"]},
    "preview.py": {"tiny": ["--leads", "500"], "quick": ["--leads", "100000"], "full": ["--leads", "1000000"]},
    "suggest.py": {"tiny": ["--leads", "500"], "quick": ["--leads", "100000"], "full": ["--leads", "1000000", "--reuse"]},
    "editor.py": {"tiny": ["--rules", "50", "--runs", "2"], "quick": [], "full": []},
    # The lead list at its budget's size in every run but CI's (the 1M database is built once, then reused).
    "lead_list.py": {"tiny": ["--tiny"], "quick": ["--reuse"], "full": ["--reuse"]},
    # A 100,000-row CRM export with 10 custom fields through a Celery worker (the budget's size in every run but CI's).
    "import_leads.py": {"tiny": ["--rows", "500"], "quick": ["--rows", "100000"], "full": ["--rows", "100000"]},
    # The production shape under a team of SDRs and an integration (deploy/serve.sh on 127.0.0.1).
    "load.py": {"tiny": ["--seconds", "20", "--sdrs", "10", "--rate", "200"], "quick": [], "full": []},
}

# Tiny runs (CI) build every database afresh, so one left by older code cannot break them.
# Scripts that rebuild their database unless told to reuse it (the others reuse a database that
# already holds the requested size by themselves).
REUSABLE = {"rescore.py", "preview.py"}

# Tiny runs use databases of their own, so CI never drops or reuses a full-size benchmark database.
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
TINY_DATABASES = {
    "ingest.py": {"BENCH_INGEST_DB": "leadhub_tiny_ingest"},
    "rescore.py": {"BENCH_RESCORE_DB": "leadhub_tiny_rescore"},
    "queue_page.py": {"BENCH_DATABASE_URL": f"{PG}/leadhub_tiny_queue"},
    "dashboard.py": {"BENCH_DATABASE_URL": f"{PG}/leadhub_tiny_dashboard"},
    "preview.py": {"BENCH_PREVIEW_DB": "leadhub_tiny_preview"},
    "suggest.py": {"BENCH_SUGGEST_DB": "leadhub_tiny_suggest"},
    "lead_list.py": {"BENCH_DATABASE_URL": f"{PG}/leadhub_tiny_lead_list"},
    "load.py": {"BENCH_LOAD_DB": "leadhub_tiny_load"},
    "editor.py": {"BENCH_EDITOR_DB": "leadhub_tiny_editor"},
    "import_leads.py": {"BENCH_IMPORT_DB": "leadhub_tiny_import"},
}


def main():
    parser = argparse.ArgumentParser()
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_const", dest="size", const="full")
    size.add_argument("--tiny", action="store_const", dest="size", const="tiny")
    parser.add_argument("--only", nargs="*", help="benchmark file names to run")
    parser.add_argument("--skip", nargs="*", default=[], help="benchmark file names not to run")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure databases built by an earlier run of the same size (scripts that build from scratch otherwise)",
    )
    args = parser.parse_args()
    size = args.size or "quick"
    rows, failures = [], []
    for script, sizes in BENCHMARKS.items():
        if (args.only and script not in args.only) or script in args.skip:
            continue
        if not (HERE / script).exists():
            continue
        print(f"== {script} ({size})", flush=True)
        extra = ["--reuse"] if args.reuse and script in REUSABLE else []
        env = {**os.environ, **TINY_DATABASES[script]} if size == "tiny" else None
        proc = subprocess.run([sys.executable, str(HERE / script), *sizes[size], *extra], capture_output=True, text=True, env=env)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            sys.stdout.write(proc.stderr[-3000:])
            failures.append(script)
        rows += [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]

    print(f"\nleadhub benchmarks, {size} size, {date.today().isoformat()}\n")
    print("| benchmark | figure | floor (same run) | ratio | budget | result |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        floor = f"{r['floor']:,} {r['unit']}" if r["floor"] is not None else "—"
        ratio = f"{r['ratio']}×" if r["ratio"] is not None else "—"
        print(
            f"| {r['name']} | {r['figure']:,} {r['unit']} | {floor} | {ratio} | {r['budget']} | {'pass' if r['pass'] else 'FAIL'} |"
        )
    if failures:
        print(f"\nBenchmarks that crashed: {', '.join(failures)}")
    # Tiny runs check that the scripts work, not the budgets (the sizes are too small to mean anything).
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
