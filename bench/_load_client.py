"""The load benchmark's clients (bench/load.py): simulated SDRs working the queue, the integration
pushing activities, the /healthz poller, and the statistics they record."""

import json
import random
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

HOST = "127.0.0.1"  # only ever this machine
PASSWORD = "bench-load-password-1"


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.times = defaultdict(list)
        self.statuses = defaultdict(Counter)
        self.errors = Counter()
        self.offered = 0
        self.acknowledged = 0
        self.created = 0
        self.backlog = []  # (seconds into the run, waiting leads, oldest age s)

    def record(self, name, seconds, status):
        with self.lock:
            self.times[name].append(seconds)
            self.statuses[name][status] += 1


def timed(stats, name, session, method, url, **kwargs):
    started = time.perf_counter()
    try:
        response = session.request(method, url, **kwargs)
        status = response.status_code
    except requests.RequestException as exc:
        response, status = None, type(exc).__name__
    stats.record(name, time.perf_counter() - started, status)
    return response


def sign_in(base, username, timeout):
    session = requests.Session()
    page = session.get(f"{base}/login/", timeout=timeout)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{base}/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/login/"},
        timeout=timeout,
        allow_redirects=False,
    )
    if response.status_code != 302:
        raise RuntimeError(f"{username} could not sign in: {response.status_code}")
    return session


def sign_in_all(base, users, args, stats):
    """Every SDR signs in before the clock starts (password hashing is deliberately slow, and
    a team does not sign in at the same second): up to 3 tries each, bounded by --timeout."""

    def one(username):
        for _ in range(3):
            try:
                return sign_in(base, username, args.timeout)
            except (requests.RequestException, RuntimeError, AttributeError) as exc:
                stats.errors[f"sign-in: {type(exc).__name__}"] += 1
        return None

    with ThreadPoolExecutor(max_workers=4) as pool:
        sessions = list(pool.map(one, users))
    return [(u, s) for u, s in zip(users, sessions, strict=True) if s is not None]


def sdr_loop(base, session, reasons, stats, stop, args, rng):
    htmx = {"HX-Request": "true", "Referer": f"{base}/queue/"}
    while not stop.is_set():
        queue = timed(stats, "queue", session, "GET", f"{base}/queue/", timeout=args.timeout)
        ids = sorted(set(map(int, re.findall(r"/queue/(\d+)/panel/", queue.text)))) if queue is not None and queue.ok else []
        if not ids:
            stop.wait(rng.uniform(*args.think))
            continue
        handoff = rng.choice(ids[:10])
        panel = timed(stats, "panel", session, "GET", f"{base}/queue/{handoff}/panel/", headers=htmx, timeout=args.timeout)
        lead = re.search(r'href="/leads/(\d+)/"', panel.text) if panel is not None and panel.ok else None
        if lead:
            timed(stats, "lead", session, "GET", f"{base}/leads/{lead.group(1)}/", timeout=args.timeout)
        if stop.wait(rng.uniform(*args.think)):
            break
        headers = {**htmx, "X-CSRFToken": session.cookies.get("csrftoken", "")}
        if rng.random() < 0.7:
            timed(stats, "accept", session, "POST", f"{base}/queue/{handoff}/accept/", headers=headers, timeout=args.timeout)
        else:
            timed(
                stats,
                "reject",
                session,
                "POST",
                f"{base}/queue/{handoff}/reject/",
                headers=headers,
                data={"reason": rng.choice(reasons), "note": "bench"},
                timeout=args.timeout,
            )


def integration_loop(base, token, emails, stats, stop, args, run_tag):
    """Offer --batch activities every batch/rate seconds, on schedule: a slow answer does not
    lower what is offered (up to 4 posts in flight)."""
    interval = args.batch / args.rate
    session = requests.Session()
    session.headers.update({"Authorization": f"Token {token}", "Content-Type": "application/json"})
    rng = random.Random(1)
    counter = [0]

    def post(batch_no):
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        items = []
        for _ in range(args.batch):
            counter[0] += 1
            items.append(
                {
                    "email": rng.choice(emails),
                    "kind": rng.choice(["page_view", "pricing_page_view", "email_open", "email_click"]),
                    "occurred_at": now,
                    "source": "bench",
                    "external_id": f"{run_tag}-{batch_no}-{counter[0]}",
                }
            )
        response = timed(
            stats,
            "activities",
            session,
            "POST",
            f"{base}/api/activities/",
            data=json.dumps({"activities": items}),
            timeout=args.timeout,
        )
        if response is not None and response.status_code == 200:
            body = response.json()
            with stats.lock:
                stats.acknowledged += body.get("created", 0) + body.get("known", 0)
                stats.created += body.get("created", 0)

    with ThreadPoolExecutor(max_workers=4) as pool:
        start = time.monotonic()
        batch_no = 0
        while not stop.is_set():
            with stats.lock:
                stats.offered += args.batch
            pool.submit(post, batch_no)
            batch_no += 1
            stop.wait(max(0.0, start + batch_no * interval - time.monotonic()))


def health_loop(base, stats, stop, started):
    while not stop.wait(2):
        try:
            body = requests.get(f"{base}/healthz", timeout=5).json()
            rescoring = body.get("backlog", {}).get("rescoring", {})
            stats.backlog.append(
                (round(time.monotonic() - started), rescoring.get("waiting_leads"), rescoring.get("oldest_age_seconds") or 0)
            )
        except (requests.RequestException, ValueError):
            stats.errors["healthz unreachable"] += 1
