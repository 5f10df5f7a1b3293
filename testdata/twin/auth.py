"""Who is calling: the key it presents, its row and its user's role.

A caller is the proxy admin when it presents the master key (it then has no
user row) or when its key belongs to a user whose user_role is proxy_admin.
What the caller is in a team is in teams.py.
"""
import base64
import binascii
import hashlib
import hmac
from http.cookies import CookieError, SimpleCookie

from errors import auth_error

# Routes an org_admin may not call at all; it may still read (/key/info, /key/list).
ORG_ADMIN_BLOCKED_ROUTES = ("/key/generate", "/key/update", "/key/regenerate", "/key/delete")


class Caller:
    def __init__(self, user_id, role, token):
        self.user_id = user_id  # None for the master key
        self.role = role
        self.token = token  # sha256 of the bearer key; None for the master key

    @property
    def is_proxy_admin(self):
        return self.role == "proxy_admin"


def hash_key(cleartext):
    return hashlib.sha256(cleartext.encode("utf-8")).hexdigest()


# Where else a key may come: the header Anthropic-style clients send, and the
# cookie a browser session carries.
API_KEY_HEADER = "x-api-key"
KEY_COOKIE = "twin_key"


def bearer_key(headers):
    """The caller's key: `Authorization: Bearer <key>`, or basic auth's password
    (`Authorization: Basic`, any user name). Without an Authorization header,
    the `x-api-key` header, else the `twin_key` cookie."""
    scheme, _, key = (headers.get("Authorization") or "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() == "bearer":
        return key or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(key, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, colon, password = decoded.partition(":")
        return password if colon and password else None
    if scheme:
        return None
    key = (headers.get(API_KEY_HEADER) or "").strip()
    if key:
        return key
    try:
        morsel = SimpleCookie(headers.get("Cookie") or "").get(KEY_COOKIE)
    except CookieError:
        return None
    return (morsel.value.strip() or None) if morsel else None


def authenticate(cur, headers, master_key):
    key = bearer_key(headers)
    if key is None:
        raise auth_error(401, "No api key passed in.")
    if hmac.compare_digest(key.encode("utf-8"), master_key.encode("utf-8")):
        return Caller(None, "proxy_admin", None)
    token = hash_key(key)
    cur.execute('SELECT user_id FROM "LiteLLM_VerificationToken" WHERE token = %s', (token,))
    row = cur.fetchone()
    if row is None:
        raise auth_error(401, "Authentication Error, Invalid proxy server token passed.")
    return Caller(row["user_id"], user_role(cur, row["user_id"]), token)


def user_role(cur, user_id):
    """The user's role; a key without a user row is an internal_user."""
    if user_id is None:
        return "internal_user"
    cur.execute('SELECT user_role FROM "LiteLLM_UserTable" WHERE user_id = %s', (user_id,))
    row = cur.fetchone()
    if row is None or not row["user_role"]:
        return "internal_user"
    return row["user_role"]


def check_role_gate(caller, route):
    if caller.role == "org_admin" and route in ORG_ADMIN_BLOCKED_ROUTES:
        raise auth_error(401, "Only proxy admin can call this route")


def owns(caller, key_row):
    return caller.user_id is not None and key_row["user_id"] == caller.user_id
