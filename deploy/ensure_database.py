#!/usr/bin/env python3
"""Create the PostgreSQL database DATABASE_URL names, on the server and as the user it names,
if it does not exist yet. Touches nothing else: no other database, no other server. For a
SQLite DATABASE_URL there is nothing to do (migrate creates the file)."""

import os
import sys
from urllib.parse import unquote, urlsplit


def main():
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        return 0
    name = unquote(parts.path.lstrip("/"))
    if not name:
        print("DATABASE_URL names no database (postgres://user@host:port/NAME).", file=sys.stderr)
        return 1
    import psycopg
    from psycopg import sql

    params = {
        "host": parts.hostname or "localhost",
        "port": parts.port or 5432,
        "user": unquote(parts.username or "") or None,
        "password": unquote(parts.password or "") or None,
        "dbname": "postgres",
        "autocommit": True,
        "connect_timeout": 5,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return 0
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    print(f"Created database {name} on {params['host']}:{params['port']}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
