"""The API against its own OpenAPI schema: schemathesis, bounded and repeatable.

Starts gunicorn on 127.0.0.1 over a throwaway SQLite database with a little demo data, then runs
schemathesis (a fixed seed, a few examples per operation) once with an admin's token and once
with an Integration token. Fails on any 5xx, any response that breaks the schema (a field that
can be null declared non-null, an undocumented status code, a wrong content type), and any valid
request refused or invalid one accepted. Run by .ci/run; by hand:

    .venv/bin/python deploy/schema_check.py [--examples 5] [--seed 20261205]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import _common as c  # noqa: E402

PORT = int(os.environ.get("SCHEMA_CHECK_PORT", "8478"))
BASE = f"http://127.0.0.1:{PORT}"
CONFIG = ROOT / "deploy" / "schemathesis.toml"  # the checks, and where they do not apply
ACCOUNTS = """
import json
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
admin = User.objects.create_superuser("schema-admin", "schema-admin@leadhub.example", "schema-admin-pw")
integration, _ = User.objects.get_or_create(username="schema-integration")
integration.groups.add(Group.objects.get(name="Integration"))
print(json.dumps({"admin": Token.objects.create(user=admin).key, "integration": Token.objects.create(user=integration).key}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5, help="examples per operation (default 5)")
    parser.add_argument("--seed", type=int, default=20261205)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="leadhub-schema-"))
    env = c.bench_env(
        f"sqlite:///{work / 'db.sqlite3'}",
        LEADHUB_IMPORT_DIR=str(work / "imports"),
        API_THROTTLE_RATE="100000/min",
        LOG_LEVEL="WARNING",
    )
    c.manage(env, "migrate", "--noinput")
    c.manage(env, "seed_demo", "--leads", "150", "--no-progress")
    tokens = json.loads(
        subprocess.run(
            [c.PY, "manage.py", "shell", "-c", ACCOUNTS], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    schema = work / "schema.yaml"
    c.manage(env, "spectacular", "--file", str(schema), "--validate", "--fail-on-warn")

    web = c.start(
        [c.PY, "-m", "gunicorn", "leadhub.wsgi:application", "-b", f"127.0.0.1:{PORT}", "-w", "2", "--timeout", "60"],
        env,
        work / "web.log",
    )
    failed = []
    try:
        c.wait_for_http(f"{BASE}/healthz")
        for role, token in tokens.items():
            print(f"== schemathesis as {role} (seed {args.seed}, {args.examples} examples per operation)", flush=True)
            run = subprocess.run(
                [
                    str(Path(c.PY).with_name("schemathesis")),
                    "--config-file",
                    str(CONFIG),
                    "run",
                    str(schema),
                    "--url",
                    BASE,
                    "--header",
                    f"Authorization: Token {token}",
                    "--seed",
                    str(args.seed),
                    "--max-examples",
                    str(args.examples),
                    "--workers",
                    "2",
                    "--no-shrink",
                    "--request-timeout",
                    "30",
                    "--phases",
                    "examples,coverage,fuzzing",
                    "--suppress-health-check",
                    "all",
                    # In the throwaway folder: schemathesis keeps a cache of past failures where it runs,
                    # and each run here starts from nothing.
                ],
                cwd=work,
                env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"},
            )
            if run.returncode:
                failed.append(role)
    finally:
        c.stop(web)
    if failed:
        print(f"schemathesis found problems as {', '.join(failed)}; server log: {work / 'web.log'}")
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)
    print("schemathesis: no server errors and no schema violations")


if __name__ == "__main__":
    main()
