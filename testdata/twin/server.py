"""The twin: a small stand-in for LiteLLM's key-management endpoints.

Usage: python server.py --host 127.0.0.1 --port 4000
Environment: DATABASE_URL (Postgres, migrated with migrate.py) and
TWIN_MASTER_KEY (the key of the proxy admin).

Every request runs in one database transaction: committed when the handler
returns, rolled back when it raises. One line per request goes to stderr.
"""
import argparse
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import psycopg2.extras

import auth
import keys
import users
from errors import ApiError, not_found
from request import Request

MAX_CONNECTIONS = 8


def health(req):
    return "I'm alive!"


# (method, path pattern, route name, handler, access). Access is "open" (no
# database: handler(req)), "public" (handler(cur, req)) or "caller" (the bearer
# key is authenticated first: handler(cur, caller, req)).
ROUTES = [
    ("GET", r"/health/liveliness", "/health/liveliness", health, "open"),
    ("POST", r"/key/generate", "/key/generate", keys.generate_key, "caller"),
    ("GET", r"/key/info", "/key/info", keys.key_info, "caller"),
    ("GET", r"/key/list", "/key/list", keys.list_keys, "caller"),
    ("POST", r"/key/update", "/key/update", keys.update_key, "caller"),
    ("POST", r"/key/regenerate", "/key/regenerate", keys.regenerate_key, "caller"),
    ("POST", r"/key/(?P<key>[^/]+)/regenerate", "/key/regenerate", keys.regenerate_key, "caller"),
    ("POST", r"/key/delete", "/key/delete", keys.delete_keys, "caller"),
    ("POST", r"/user/new", "/user/new", users.new_user, "caller"),
    ("POST", r"/login", "/login", users.login, "public"),
]


def find_route(method, path):
    for route_method, pattern, name, handler, access in ROUTES:
        match = re.fullmatch(pattern, path)
        if match and route_method == method:
            params = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
            return name, handler, access, params
    return None


class Database:
    """A small pool that keeps every connection it opened, as real servers'
    pools do (psycopg2's own keeps only `minconn` idle ones and closes the
    rest, so a burst of requests paid a new connection each); callers wait
    for a free connection instead of failing."""

    def __init__(self, url):
        self.url = url
        self.idle = [psycopg2.connect(url)]
        self.lock = threading.Lock()
        self.free = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def run(self, work):
        """Call work(cursor) in one transaction and return its result."""
        with self.free:
            with self.lock:
                conn = self.idle.pop() if self.idle else None
            if conn is None:
                conn = psycopg2.connect(self.url)
            try:
                with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                    result = work(cur)
                conn.commit()
                return result
            except BaseException:
                if not conn.closed:
                    conn.rollback()
                raise
            finally:
                if not conn.closed:
                    with self.lock:
                        self.idle.append(conn)

    def close(self):
        with self.lock:
            for conn in self.idle:
                conn.close()
            self.idle.clear()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "litellm-twin"
    sys_version = ""
    # TCP_NODELAY on each accepted socket, as uvicorn does: the headers and
    # the body go out as two writes, and with Nagle's algorithm the second
    # waits for the client's delayed ACK (40 ms on every kept-alive request).
    disable_nagle_algorithm = True

    def do_GET(self):
        self.handle_request()

    def do_POST(self):
        self.handle_request()

    def do_PUT(self):
        self.handle_request()

    def do_PATCH(self):
        self.handle_request()

    def do_DELETE(self):
        self.handle_request()

    def handle_request(self):
        started = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        route_name = "(no route)"
        try:
            body = self.read_body()
            found = find_route(self.command, url.path)
            if found is None:
                raise not_found("Route not found")
            route_name, handler, access, params = found
            query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
            req = Request(self.command, url.path, query, self.headers, body, params)
            status, payload = 200, self.dispatch(route_name, handler, access, req)
        except ApiError as e:
            status, payload = e.status, e.body()
        except Exception:
            traceback.print_exc(file=sys.stderr)
            status = 500
            payload = ApiError(500, "Internal server error", "internal_server_error").body()
        self.send_json(status, payload)
        elapsed_ms = (time.monotonic() - started) * 1000
        sys.stderr.write(f"{self.command} {route_name} {status} {elapsed_ms:.1f}ms\n")

    def dispatch(self, route_name, handler, access, req):
        if access == "open":
            return handler(req)
        master_key = self.server.master_key

        def work(cur):
            if access == "public":
                return handler(cur, req)
            caller = auth.authenticate(cur, req.headers, master_key)
            auth.check_role_gate(caller, route_name)
            return handler(cur, caller, req)

        return self.server.db.run(work)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status, payload):
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code="-", size="-"):
        pass  # handle_request logs its own line, without the query string

    def log_message(self, format, *args):
        pass  # the default would print the request line, which can hold a key


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser(description="Python twin of LiteLLM's key-management endpoints")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL")
    master_key = os.environ.get("TWIN_MASTER_KEY")
    if not database_url:
        sys.exit("server.py: DATABASE_URL is not set")
    if not master_key:
        sys.exit("server.py: TWIN_MASTER_KEY is not set")
    try:
        db = Database(database_url)
    except psycopg2.Error as e:
        sys.exit(f"server.py: cannot connect to DATABASE_URL: {e}".rstrip())

    if ":" in args.host:
        Server.address_family = socket.AF_INET6
    server = Server((args.host, args.port), Handler)
    server.db = db
    server.master_key = master_key
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    sys.stderr.write(f"twin listening on {args.host}:{args.port}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        db.close()


if __name__ == "__main__":
    main()
