"""Benchmark: opening and saving the scoring editor (Django admin) with fifty rules.

    .venv/bin/python bench/editor.py            # 50 rules, best of 5
    .venv/bin/python bench/editor.py --rules 200

Builds its own PostgreSQL database, creates a marketer and two draft models (one rule, and
--rules rules: fit, negative and engagement in turn), and measures the CPU time of this
process (the test client serves in it, so the neighbours on a shared machine are not counted)
to open the editor and to save it unchanged but for the threshold, best of --runs, with DEBUG
on as `make run` serves. The floor is
the same for a model with three rules (one of each group), in the same run.

Budget: opening and saving fifty rules each take < 200 ms (and grow with the rules only by
rendering them: the query count is fixed, tests/qualification/test_editor.py).
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, bench_env, fresh_database, manage, report, setup_django  # noqa: E402

DATABASE = os.environ.get("BENCH_EDITOR_DB", "leadhub_bench_editor")
BUDGET_S = 0.2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    url = fresh_database(DATABASE)
    manage(bench_env(url), "migrate", "-v", "0")
    setup_django(url)  # DEBUG on, as `make run` serves (no collected static files needed)
    sys.path.insert(0, str(ROOT))
    from django.test import Client
    from django.test.utils import setup_test_environment

    from leadhub import roles
    from tests.conftest import make_user
    from tests.qualification.test_editor import change_url, model_with_rules, post_data

    setup_test_environment()  # the test client's responses carry their template context (post_data reads the form)
    client = Client()
    client.force_login(make_user(roles.MARKETING, username="bench-marketer", is_staff=True))

    def measure(model):
        client.get(change_url(model))  # templates compiled once
        data = post_data(client, model, mql_threshold="6")
        opened, saved = [], []
        for _ in range(args.runs):
            start = time.process_time()
            assert client.get(change_url(model)).status_code == 200
            opened.append(time.process_time() - start)
            start = time.process_time()
            response = client.post(change_url(model), data)
            assert response.status_code == 302, (response.status_code, response.context and response.context.get("errors"))
            saved.append(time.process_time() - start)
        return min(opened), min(saved)

    floor_open, floor_save = measure(model_with_rules(3))
    opened, saved = measure(model_with_rules(args.rules))
    scale = max(1, args.rules / 50)
    for action, figure, floor in (("open", opened, floor_open), ("save", saved, floor_save)):
        report(
            f"scoring editor: {action} {args.rules} rules (CPU, best of {args.runs})",
            figure * 1000,
            "ms",
            floor=floor * 1000,
            budget="< 200 ms for 50 rules",
            passed=figure < BUDGET_S * scale,
            note="floor: a model with three rules (one fit, one negative, one engagement)",
        )


if __name__ == "__main__":
    main()
