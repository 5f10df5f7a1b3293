"""/user/new (the proxy admin creates a user) and /login (a user gets a key)."""
import hashlib
import hmac
import secrets
import uuid

from auth import hash_key
from errors import auth_error, bad_request
from keys import new_cleartext_key
from request import optional_str

USER_ROLES = ("proxy_admin", "proxy_admin_viewer", "org_admin", "internal_user", "internal_user_viewer")
PASSWORD_ITERATIONS = 100_000


def hash_password(password):
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt.encode("ascii"), PASSWORD_ITERATIONS)
    return f"pbkdf2_sha256${PASSWORD_ITERATIONS}${salt}${digest.hex()}"


def password_matches(password, stored):
    try:
        scheme, iterations, salt, expected = (stored or "").split("$")
        if scheme != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt.encode("ascii"), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), expected)


def check_new_user(caller):
    if not caller.is_proxy_admin:
        raise auth_error(403, "Only proxy admin can create users")


def new_user(cur, caller, req):
    check_new_user(caller)

    body = req.json()
    user_email = optional_str(body, "user_email")
    user_role = optional_str(body, "user_role") or "internal_user"
    password = optional_str(body, "password")
    user_id = optional_str(body, "user_id") or str(uuid.uuid4())
    if user_role not in USER_ROLES:
        raise bad_request(f"Unknown user_role: {user_role}")
    cur.execute('SELECT 1 FROM "LiteLLM_UserTable" WHERE user_id = %s', (user_id,))
    if cur.fetchone() is not None:
        raise bad_request(f"User {user_id} already exists")
    if user_email is not None:
        cur.execute('SELECT 1 FROM "LiteLLM_UserTable" WHERE user_email = %s', (user_email,))
        if cur.fetchone() is not None:
            raise bad_request(f"A user with email {user_email} already exists")
    cur.execute(
        'INSERT INTO "LiteLLM_UserTable" (user_id, user_email, user_role, password, models) '
        "VALUES (%s, %s, %s, %s, %s)",
        (user_id, user_email, user_role, hash_password(password) if password else None, []),
    )
    return {"user_id": user_id, "user_email": user_email, "user_role": user_role}


def login(cur, req):
    """POST /login, form-encoded or JSON {username, password}; username is the email."""
    body = req.form_or_json()
    username = optional_str(body, "username")
    password = optional_str(body, "password")
    if not username or not password:
        raise bad_request("username and password are required")
    cur.execute(
        'SELECT user_id, password FROM "LiteLLM_UserTable" WHERE user_email = %s ORDER BY user_id LIMIT 1',
        (username,),
    )
    user = cur.fetchone()
    if user is None or not password_matches(password, user["password"]):
        raise auth_error(401, "Invalid username or password")
    key = new_cleartext_key()
    cur.execute(
        'INSERT INTO "LiteLLM_VerificationToken" (token, key_name, user_id, models) VALUES (%s, %s, %s, %s)',
        (hash_key(key), "login", user["user_id"], []),
    )
    return {"token": key}
