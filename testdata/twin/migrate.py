"""Create the twin's tables: run schema.sql against DATABASE_URL.

Usage: DATABASE_URL=postgresql://... python migrate.py
Running it twice is harmless.
"""
import os
import sys

import psycopg2

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.sql")


def main():
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("migrate.py: DATABASE_URL is not set")
    try:
        with open(SCHEMA, encoding="utf-8") as f:
            sql = f.read()
    except OSError as e:
        sys.exit(f"migrate.py: cannot read {SCHEMA}: {e}")
    try:
        conn = psycopg2.connect(url)
    except psycopg2.Error as e:
        sys.exit(f"migrate.py: cannot connect to DATABASE_URL: {e}".rstrip())
    try:
        with conn:
            with conn.cursor() as cur:
                cur.execute(sql)
    except psycopg2.Error as e:
        sys.exit(f"migrate.py: schema.sql failed: {e}".rstrip())
    finally:
        conn.close()
    print("migrate.py: schema applied", file=sys.stderr)


if __name__ == "__main__":
    main()
