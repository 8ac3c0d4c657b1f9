"""Benchmark: the lead list (/leads/ and GET /api/leads/) at a million leads and a million handoffs.

    .venv/bin/python bench/lead_list.py                      # 1M leads, 10 activities each, 1M handoffs
    .venv/bin/python bench/lead_list.py --reuse              # measure a database built earlier
    .venv/bin/python bench/lead_list.py --tiny               # 2,000 leads, seconds (CI: the script works)

Own database (BENCH_DATABASE_URL, default .../leadhub_bench_lead_list), built with
`seed_demo --leads N --activities-per-lead M` and topped up set-based with one handoff per lead
(90 days, every status, rejection reasons, three fired rules each), then VACUUM ANALYZE and the
dashboards' rollups. --reuse skips the build when the database holds N leads and a handoff for
each (migrations are applied either way: new indexes build concurrently).

gunicorn (DEBUG off, 2 workers, port BENCH_PORT or 8114) serves bench/_site.py: leadhub plus
/bench/floor/, a signed-in view answering "ok" through the same middleware. Each case is
requested --requests times as manager and as SDR, interleaved with the floor; the server's
own time and query count come from its request log (X-Request-ID). Beside it, the page's
SQL (page rows and capped count) is timed alone in this process. Drill-down links are taken
from the dashboard and feedback pages as served. Budgets: p95 <= 300 ms a case, <= 200 ms a
search; a filtered CSV export's first bytes within 1 s.
"""

import argparse
import html
import os
import re
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import _common as c  # noqa: E402
from _lead_list_db import HANDOFFS, RULES, SCORES, build, built, top_up  # noqa: E402,F401

DEFAULT_URL = f"{c.PG}/leadhub_bench_lead_list"
PORT = int(os.environ.get("BENCH_PORT", "8114"))
BUDGET_MS, SEARCH_BUDGET_MS, EXPORT_TTFB_MS = 300, 200, 1000
SECRET_KEY = "bench-only-secret-key-bench-only-secret-key-0123456789"


def wait_for_free_port(timeout=1800):
    """Another benchmark may still hold the port; wait for it rather than fail."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", PORT)) != 0:
                return
        time.sleep(5)
    raise RuntimeError(f"port {PORT} still busy after {timeout} s")


def sessions():
    """Session cookies for the demo manager, marketer and an SDR (written by Django's test client)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    cookies = {}
    for name in ("manager", "marketer", "sdr1"):
        client = Client()
        client.force_login(get_user_model().objects.get(username=name))
        cookies[name] = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return cookies


def fetch(path, cookie, *, first_bytes=None):
    """(seconds, body or b"", request id): the whole body, or only its first bytes."""
    request_id = uuid.uuid4().hex
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", headers={"Cookie": cookie, "X-Request-ID": request_id})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as response:
        assert response.status == 200, (path, response.status)
        body = response.read(first_bytes) if first_bytes else response.read()
    return time.perf_counter() - t0, body, request_id


def cursor_at(params, depth):
    """The cursor of the page `depth` rows into the list for these params (one OFFSET query, here only)."""
    from django.http import QueryDict

    from leadhub import pagination, selectors
    from leadhub.filters import LeadFilter

    f = LeadFilter(QueryDict(params), queryset=selectors.lead_list())
    assert f.is_valid(), f.errors
    keys = f.sort_keys()
    row = f.qs[depth]
    return pagination.encode_cursor(pagination._values(row, keys))


def sql_alone(path, requests):
    """p50 ms of the page's SQL (rows + capped count), run alone over this process's connection."""
    from django.db import connection
    from django.http import QueryDict

    from leadhub import selectors
    from leadhub.filters import LeadFilter

    query = QueryDict(path.partition("?")[2])
    f = LeadFilter(query, queryset=selectors.lead_list())
    assert f.is_valid(), f.errors
    statements = page_statements(f, query)
    times = []
    with connection.cursor() as cursor:
        for _ in range(requests):
            t0 = time.perf_counter()
            for sql in statements:
                cursor.execute(sql)
                cursor.fetchall()
            times.append((time.perf_counter() - t0) * 1000)
    return c.percentile(times, 0.5)


def page_statements(f, query):
    """The SQL a page runs for its rows and its count (the search's breadth check, a broad
    search's tier query, the rows, the count and its time budget), as executed."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from leadhub import pagination

    with CaptureQueriesContext(connection) as captured:
        qs = f.qs
        pagination.keyset_page(qs, f.sort_keys(), query.get("cursor"))
        pagination.capped_count(qs)
    return [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith(("SELECT", "WITH", "("))]


def explain(path):
    """EXPLAIN ANALYZE of the page's SQL (rows, then the capped count), as text."""
    from django.db import connection
    from django.http import QueryDict

    from leadhub import selectors
    from leadhub.filters import LeadFilter

    query = QueryDict(path.partition("?")[2])
    f = LeadFilter(query, queryset=selectors.lead_list())
    assert f.is_valid(), f.errors
    out = []
    with connection.cursor() as cursor:
        for sql in page_statements(f, query):
            if "set_config(" in sql:
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            out.append("\n".join(row[0] for row in cursor.fetchall()))
    return "\n--\n".join(out)


def drilldowns(cookies):
    """Lead-list links from the dashboard (manager) and the feedback page (marketer): one of each
    kind (the set of parameters, with the outcome and SLA state asked for), so every kind of
    number a report links (MQL day or range, owner, channel, outcome, SLA breached, SLA state,
    rejection reason, rule, score band, grade) is measured once."""
    from urllib.parse import parse_qsl

    links, kinds = [], set()
    for page, who in (("/dashboard/", "manager"), ("/feedback/", "marketer")):
        _, body, _ = fetch(page, cookies[who])
        found = sorted({html.unescape(h) for h in re.findall(r'href="(/leads/\?[^"]+)"', body.decode())})
        for h in found:
            params = dict(parse_qsl(h.partition("?")[2]))
            day = params.get("mql_after") and params.get("mql_after") == params.get("mql_before")
            kind = (
                params.get("reached"),
                params.get("sla_state"),
                bool(day),
                *(name in params for name in ("rule", "rejection_reason", "handoff_owner", "in_cooldown", "handoff_grade")),
            )
            if kind not in kinds:
                kinds.add(kind)
                links.append((f"drill-down from {page.strip('/')}: {h.partition('?')[2][:90]}", h))
    return links


def workers_rss_mb(server_pid):
    """Resident memory of gunicorn's workers (the server's children), in MB."""
    total = 0
    for task in Path(f"/proc/{server_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def server_times(log_path):
    """{request id: (ms, queries)} from the server's request log."""
    found = {}
    for line in Path(log_path).read_text(errors="replace").splitlines():
        m = re.search(r"request_id=(\w+) .*? ms=([\d.]+) queries=(\d+)", line)
        if m:
            found[m.group(1)] = (float(m.group(2)), int(m.group(3)))
    return found


def cases(leads):
    deep = min(500_000, leads // 2)
    return [
        ("default (newest first)", "/leads/", False),
        ("sorted by score", "/leads/?ordering=-score", False),
        ("sorted by name", "/leads/?ordering=name", False),
        ("sorted by last activity", "/leads/?ordering=-last_activity", False),
        ("search: a surname", "/leads/?q=garcia", True),
        ("search: an email fragment", "/leads/?q=rossi.4", True),
        ("search: a full name", "/leads/?q=maria+garcia", True),
        ("search: two short words", "/leads/?q=li+ch", True),
        ("search: a company", "/leads/?q=summit+labs", True),
        ("stage mql, channel paid", "/leads/?stage=mql&source=paid", False),
        ("channel, grade, score range", "/leads/?source=event&grade=A&score_min=40&score_max=80", False),
        ("created last 7 days, by score", "/leads/?created_after={d7}&ordering=-score", False),
        ("owner sdr1", "/leads/?owner={sdr1}", False),
        (f"{deep:,} rows deep, newest first", f"/leads/?cursor={{deep:{deep}:}}", False),
        (f"{deep:,} rows deep, by score", f"/leads/?ordering=-score&cursor={{deep:{deep}:ordering=-score}}", False),
        (f"{deep:,} rows deep, by name", f"/leads/?ordering=name&cursor={{deep:{deep}:ordering=name}}", False),
        ("API: default", "/api/leads/", False),
        ("API: search a full name", "/api/leads/?q=maria+garcia", True),
        (f"API: {deep:,} rows deep", f"/api/leads/?cursor={{deep:{deep}:}}", False),
    ]


def resolve(path, users):
    from datetime import timedelta

    from django.utils import timezone

    path = path.replace("{d7}", (timezone.localdate() - timedelta(days=7)).isoformat()).replace("{sdr1}", str(users["sdr1"]))
    m = re.search(r"\{deep:(\d+):([^}]*)\}", path)
    return path.replace(m.group(0), cursor_at(m.group(2), int(m.group(1)))) if m else path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--activities-per-lead", type=int, default=10)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="Measure the database as it is when it holds --leads leads.")
    parser.add_argument("--tiny", action="store_true", help="2,000 leads, 2 activities each, 5 requests a case.")
    parser.add_argument("--explain", action="store_true", help="Print each case's query plans (EXPLAIN ANALYZE) too.")
    args = parser.parse_args()
    if args.tiny:
        args.leads, args.activities_per_lead, args.requests = 2000, 2, 5
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if not (args.reuse and built(url, args.leads, handoffs=False)):
        build(url, args.leads, args.activities_per_lead)
    # Sessions made here are checked by the server: the same secret key.
    c.setup_django(url, DJANGO_SECRET_KEY=SECRET_KEY)
    if not built(url, args.leads):
        top_up(url)
    started = time.monotonic()
    c.manage(c.bench_env(url), "migrate", "-v", "0")  # new indexes build concurrently
    from django.db import connection

    with connection.cursor() as cursor:  # statistics for the expression indexes the migrations built
        cursor.execute("ANALYZE leadhub_lead; ANALYZE leadhub_company")
    print(f"migrations applied and analyzed in {time.monotonic() - started:.0f} s", flush=True)
    from django.contrib.auth import get_user_model

    users = dict(get_user_model().objects.filter(username__in=["manager", "sdr1"]).values_list("username", "id"))
    cookies = sessions()
    env = c.bench_env(
        url,
        DEBUG="0",
        DJANGO_SECRET_KEY=SECRET_KEY,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        LOG_LEVEL="INFO",
        REQUEST_LOG_LEVEL="INFO",
        LOG_FORMAT="text",
    )
    c.manage(env, "collectstatic", "--no-input", "-v", "0")
    log_path = Path(f"/tmp/leadhub-bench-lead-list-{PORT}.log")
    wait_for_free_port()
    server = c.start(
        [
            c.PY,
            "-m",
            "gunicorn",
            "_site:application",
            "--pythonpath",
            f"{ROOT / 'bench'},{ROOT}",
            "-b",
            f"127.0.0.1:{PORT}",
            "-w",
            "2",
            "--timeout",
            "120",
        ],
        env,
        log_path,
    )
    try:
        c.wait_for_http(f"http://127.0.0.1:{PORT}/login/")  # /healthz may answer 503 for a rescoring backlog
        measure(args, users, cookies, log_path, server.pid)
    finally:
        c.stop(server)


def measure(args, users, cookies, log_path, server_pid):
    rows = []
    plan = [(label, resolve(path, users), search) for label, path, search in cases(args.leads)]
    plan += [(label, path, False) for label, path in drilldowns(cookies)]
    if args.explain:
        for label, path, _ in plan:
            if path.startswith("/leads/"):
                print(f"\n=== {label}: {path[:200]}\n{explain(path)}", flush=True)
    for label, path, search in plan:
        for who in ("manager", "sdr1"):
            for _ in range(2):  # warm-up
                fetch(path, cookies[who])
            ids, floor_ids = [], []
            for _ in range(args.requests):
                ids.append(fetch(path, cookies[who])[2])
                floor_ids.append(fetch("/bench/floor/", cookies[who])[2])
            rows.append((label, who, path, search, ids, floor_ids))
    export_rows = []
    exports = [
        ("export, channel paid", "/leads/export.csv?source=paid"),
        ("export, search a surname", "/leads/export.csv?q=garcia"),
        ("export, channel, grade, score range", "/leads/export.csv?source=event&grade=A&score_min=40&score_max=80"),
    ]
    exports += [
        (f"export, {label}", path.replace("/leads/?", "/leads/export.csv?", 1))
        for label, path, _ in plan
        if "drill-down" in label
    ][:3]
    for label, path in exports:
        times = [fetch(path, cookies["manager"], first_bytes=4096)[0] * 1000 for _ in range(3)]
        export_rows.append((label, max(times)))
    # Constant memory: the workers' resident memory before and after downloading a whole large export.
    before = workers_rss_mb(server_pid)
    t0 = time.perf_counter()
    _, body, _ = fetch("/leads/export.csv?source=paid", cookies["manager"])
    export_seconds = time.perf_counter() - t0
    grown = workers_rss_mb(server_pid) - before
    c.report(
        "lead export, channel paid, whole file: workers' memory growth",
        grown,
        "MB",
        budget="≤ 50 MB",
        passed=grown <= 50,
        note=f"{body.count(b'\n') - 1:,} rows, {len(body) / 1e6:.0f} MB in {export_seconds:.1f} s",
    )
    time.sleep(1)  # the log lines of the last requests
    server = server_times(log_path)
    print(f"\nLead list at {args.leads:,} leads; server time from the request log; {args.requests} requests a case and role\n")
    print("| case | as | p50 ms | p95 ms | floor p95 | queries | SQL alone p50 | budget |")
    print("|---|---|---|---|---|---|---|---|")
    for label, who, path, search, ids, floor_ids in rows:
        times = [server[i][0] for i in ids if i in server]
        queries = sorted({server[i][1] for i in ids if i in server})
        floor = [server[i][0] for i in floor_ids if i in server]
        p50, p95, fp95 = c.percentile(times, 0.5), c.percentile(times, 0.95), c.percentile(floor, 0.95)
        budget = SEARCH_BUDGET_MS if search else BUDGET_MS
        alone = sql_alone(path, 5) if path.startswith("/leads/") else float("nan")
        print(
            f"| {label} | {'SDR' if who == 'sdr1' else who} | {p50:.0f} | {p95:.0f} | {fp95:.0f} | {','.join(map(str, queries))} | "
            f"{alone:.0f} | {'pass' if p95 <= budget else 'FAIL'} (≤ {budget}) |",
            flush=True,
        )
        c.report(
            f"lead list p95, {label}, {'SDR' if who == 'sdr1' else who}",
            p95,
            "ms",
            floor=fp95,
            budget=f"≤ {budget} ms",
            passed=p95 <= budget,
            note=f"{args.leads:,} leads; median {p50:.0f} ms; queries {','.join(map(str, queries))}",
        )
    for label, ttfb in export_rows:
        c.report(
            f"lead {label}: first bytes (worst of 3)",
            ttfb,
            "ms",
            budget=f"≤ {EXPORT_TTFB_MS} ms",
            passed=ttfb <= EXPORT_TTFB_MS,
            note=f"{args.leads:,} leads; streamed",
        )


if __name__ == "__main__":
    main()
