"""Shared helpers for the benchmarks: fresh PostgreSQL databases, manage.py, processes, results.

Every benchmark prints one JSON line starting with "RESULT " per figure, which bench/run_all.py
collects into one table: figure, floor measured in the same run, ratio, budget, pass/fail.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PY = sys.executable


def fresh_database(name):
    """Drop and create database `name`; return its DATABASE_URL."""
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG}/{name}"


def bench_env(database_url, **extra):
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "1",
        "CELERY_BROKER_URL": "",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "leadhub.settings",
        **extra,
    }


def manage(env, *args, quiet=True):
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL if quiet else None)


def setup_django(database_url, **extra):
    """Configure Django in this process against `database_url`."""
    os.environ.update(bench_env(database_url, **extra))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def start(args, env, log_path):
    log = open(log_path, "w")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process, timeout=20):
    """SIGTERM the process group, SIGKILL it after `timeout` seconds."""
    if process and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for_http(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values, q):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def report(name, figure, unit, *, floor=None, budget, passed, note=""):
    """Print one result line for run_all.py and a readable line for people."""
    ratio = (figure / floor) if floor else None
    row = {
        "name": name,
        "figure": round(figure, 3),
        "unit": unit,
        "floor": round(floor, 3) if floor else None,
        "ratio": round(ratio, 2) if ratio else None,
        "budget": budget,
        "pass": bool(passed),
        "note": note,
    }
    print("RESULT " + json.dumps(row), flush=True)
    floor_text = f", floor {floor:,.3f} {unit}, ratio {ratio:.2f}" if floor else ""
    print(
        f"{name}: {figure:,.3f} {unit}{floor_text}; budget {budget}: {'PASS' if passed else 'FAIL'} {note}".rstrip(), flush=True
    )
    return row
