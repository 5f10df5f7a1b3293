"""The six /key/* handlers.

Each handler loads what it needs, asks one small check_* function whether the
caller may do it (the function raises the denial), then acts. A key is stored
only as the sha256 hex of its cleartext, in "LiteLLM_VerificationToken".token.
"""
import math
import secrets
import uuid

from psycopg2.extras import Json

from auth import hash_key, owns
from errors import auth_error, bad_request, not_found
from request import (
    optional_int,
    optional_number,
    optional_object,
    optional_str,
    optional_str_list,
)
from teams import load_team, team_role

TEAM_MEMBER_DENIED = "Team member does not have permissions for this route"

KEY_COLUMNS = (
    "token, key_name, key_alias, user_id, team_id, organization_id, models, metadata, "
    "max_budget, tpm_limit, rpm_limit, max_parallel_requests, budget_duration"
)

# The fields /key/update can change, each with the check of its value.
UPDATE_FIELDS = {
    "models": optional_str_list,
    "key_alias": optional_str,
    "metadata": optional_object,
    "max_budget": optional_number,
    "tpm_limit": optional_int,
    "rpm_limit": optional_int,
    "max_parallel_requests": optional_int,
    "budget_duration": optional_str,
}


def new_cleartext_key():
    return "sk-" + secrets.token_hex(16)


def abbreviate(cleartext):
    return "sk-..." + cleartext[-4:]


def load_key(cur, token):
    cur.execute(f'SELECT {KEY_COLUMNS} FROM "LiteLLM_VerificationToken" WHERE token = %s', (token,))
    return cur.fetchone()


def load_key_or_404(cur, cleartext):
    row = load_key(cur, hash_key(cleartext))
    if row is None:
        raise not_found("Key not found")
    return row


def alias_taken(cur, key_alias, except_token=None):
    cur.execute(
        'SELECT 1 FROM "LiteLLM_VerificationToken" WHERE key_alias = %s AND token IS DISTINCT FROM %s',
        (key_alias, except_token),
    )
    return cur.fetchone() is not None


def key_info_block(row):
    return {
        "user_id": row["user_id"],
        "team_id": row["team_id"],
        "key_alias": row["key_alias"],
        "key_name": row["key_name"],
        "models": row["models"] or [],
        "organization_id": row["organization_id"],
    }


def key_from_body(body):
    key = optional_str(body, "key")
    if not key:
        raise bad_request("key is required")
    return key


# ---------------------------------------------------------------- /key/generate


def check_generate(caller, user_id, team):
    if caller.is_proxy_admin:
        return
    if user_id is not None and user_id != caller.user_id:
        raise auth_error(403, "User can only create keys for themselves")
    if team is None:
        return
    role = team_role(team, caller.user_id)
    if role is None:
        raise bad_request(f"User is not a member of team {team['team_id']}")
    if role != "admin":
        raise auth_error(401, TEAM_MEMBER_DENIED)


def generate_key(cur, caller, req):
    body = req.json()
    key_alias = optional_str(body, "key_alias")
    user_id = optional_str(body, "user_id")
    team_id = optional_str(body, "team_id")
    models = optional_str_list(body, "models") or []
    metadata = optional_object(body, "metadata") or {}
    team = None
    if team_id is not None:
        team = load_team(cur, team_id)
        if team is None:
            raise bad_request(f"Team not found: {team_id}")

    check_generate(caller, user_id, team)

    if key_alias is not None and alias_taken(cur, key_alias):
        raise bad_request(f"Key with alias '{key_alias}' already exists; key aliases must be unique")
    key = new_cleartext_key()
    token = hash_key(key)
    owner = user_id if user_id is not None else caller.user_id
    organization_id = team["organization_id"] if team is not None else None
    cur.execute(
        'INSERT INTO "LiteLLM_VerificationToken" '
        "(token, key_name, key_alias, user_id, team_id, organization_id, models, metadata) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (token, abbreviate(key), key_alias, owner, team_id, organization_id, models, Json(metadata)),
    )
    return {
        "key": key,
        "token": token,
        "key_alias": key_alias,
        "user_id": owner,
        "team_id": team_id,
        "models": models,
    }


# -------------------------------------------------------------------- /key/info


def check_view(cur, caller, target):
    if caller.is_proxy_admin or owns(caller, target):
        return
    if target["team_id"] and team_role(load_team(cur, target["team_id"]), caller.user_id) is not None:
        return
    raise auth_error(403, "User is not allowed to view this key's info")


def key_info(cur, caller, req):
    key = req.query.get("key")
    if key is None:
        # No ?key=: describe the key the caller authenticated with.
        row = load_key(cur, caller.token) if caller.token is not None else None
        if row is None:  # the master key has no row
            return {"key": None, "info": {"user_id": None, "team_id": None, "key_alias": None,
                                          "key_name": None, "models": [], "organization_id": None}}
        return {"key": row["token"], "info": key_info_block(row)}
    target = load_key_or_404(cur, key)

    check_view(cur, caller, target)

    return {"key": key, "info": key_info_block(target)}


# -------------------------------------------------------------------- /key/list


def visible_keys_filter(caller):
    """The SQL condition (and its parameters) for the keys this caller may list."""
    if caller.is_proxy_admin:
        return "TRUE", ()
    return "user_id = %s", (caller.user_id,)


def page_param(req, name, default):
    text = req.query.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise bad_request(f"{name} must be an integer")


def query_flag(req, name):
    """A boolean query parameter, read the way FastAPI reads one; absent is false."""
    text = req.query.get(name)
    if text is None:
        return False
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise bad_request(f"{name} must be a boolean")


def check_list_team(cur, caller, team_id):
    """A non-admin may filter by a team only when its user row lists that team."""
    if caller.is_proxy_admin or team_id is None:
        return
    cur.execute('SELECT teams FROM "LiteLLM_UserTable" WHERE user_id = %s', (caller.user_id,))
    row = cur.fetchone()
    if row is None or team_id not in (row["teams"] or []):
        raise auth_error(403, "You are not authorized to check this team's keys")


def list_filters(caller, req, team_id):
    """The SQL conditions (and parameters) of the team_id and key_alias filters.

    key_alias is an exact match, except for a proxy admin that asks for
    substring_matching: then it is a case-insensitive substring match.
    """
    conditions, params = [], []
    if team_id is not None:
        conditions.append("team_id = %s")
        params.append(team_id)
    key_alias = req.query.get("key_alias") or None
    if key_alias is not None:
        if caller.is_proxy_admin and query_flag(req, "substring_matching"):
            conditions.append("strpos(lower(key_alias), lower(%s)) > 0")
        else:
            conditions.append("key_alias = %s")
        params.append(key_alias)
    return conditions, tuple(params)


def key_list_entry(row, full):
    if not full:
        return row["token"]
    return {
        "token": row["token"],
        "key_alias": row["key_alias"],
        "key_name": row["key_name"],
        "user_id": row["user_id"],
        "team_id": row["team_id"],
        "organization_id": row["organization_id"],
        "models": row["models"] or [],
    }


def list_keys(cur, caller, req):
    size = min(max(page_param(req, "size", 10), 1), 100)
    page = max(page_param(req, "page", 1), 1)
    full = query_flag(req, "return_full_object")
    team_id = req.query.get("team_id") or None
    check_list_team(cur, caller, team_id)
    where, params = visible_keys_filter(caller)
    filters, filter_params = list_filters(caller, req, team_id)
    where = " AND ".join([where] + filters)
    params = params + filter_params
    cur.execute(f'SELECT count(*) AS n FROM "LiteLLM_VerificationToken" WHERE {where}', params)
    total = cur.fetchone()["n"]
    cur.execute(
        "SELECT token, key_alias, key_name, user_id, team_id, organization_id, models "
        f'FROM "LiteLLM_VerificationToken" WHERE {where} ORDER BY token LIMIT %s OFFSET %s',
        params + (size, (page - 1) * size),
    )
    return {
        "keys": [key_list_entry(row, full) for row in cur.fetchall()],
        "total_count": total,
        "current_page": page,
        "total_pages": math.ceil(total / size),
    }


# ------------------------------------------------------------------ /key/update


def update_needs_admin(body):
    """Whether updating these fields of a key without a team needs an admin: every field does."""
    return any(field != "key" for field in body)


def check_update(cur, caller, target, body):
    if caller.is_proxy_admin:
        return
    if not owns(caller, target):
        raise auth_error(403, "User can only create keys for themselves")
    if not target["team_id"]:
        if update_needs_admin(body):
            raise auth_error(403, "Only proxy admins, team admins, or org admins can call /key/update")
        return
    role = team_role(load_team(cur, target["team_id"]), caller.user_id)
    if role == "admin":
        return
    if role is None:
        raise auth_error(403, "User is not a member of the key's team")
    raise auth_error(401, TEAM_MEMBER_DENIED)


def update_key(cur, caller, req):
    body = req.json()
    key = key_from_body(body)
    target = load_key_or_404(cur, key)

    check_update(cur, caller, target, body)

    changes = {}
    for field, check in UPDATE_FIELDS.items():
        value = check(body, field)
        if value is not None:
            changes[field] = Json(value) if field == "metadata" else value
    if "key_alias" in changes and alias_taken(cur, changes["key_alias"], target["token"]):
        raise bad_request(f"Key with alias '{changes['key_alias']}' already exists; key aliases must be unique")
    if changes:
        assignments = ", ".join(f"{field} = %s" for field in changes)
        cur.execute(
            f'UPDATE "LiteLLM_VerificationToken" SET {assignments} WHERE token = %s',
            tuple(changes.values()) + (target["token"],),
        )
    row = load_key(cur, target["token"])
    return {
        "key": key,
        "token": row["token"],
        "key_alias": row["key_alias"],
        "key_name": row["key_name"],
        "user_id": row["user_id"],
        "team_id": row["team_id"],
        "models": row["models"] or [],
        "metadata": row["metadata"],
        "max_budget": row["max_budget"],
        "tpm_limit": row["tpm_limit"],
        "rpm_limit": row["rpm_limit"],
        "max_parallel_requests": row["max_parallel_requests"],
        "budget_duration": row["budget_duration"],
    }


# -------------------------------------------------------------- /key/regenerate


def check_regenerate(cur, caller, target):
    if caller.is_proxy_admin:
        return
    if target["team_id"]:
        if team_role(load_team(cur, target["team_id"]), caller.user_id) == "admin":
            return
        raise auth_error(401, TEAM_MEMBER_DENIED)
    if not owns(caller, target):
        raise auth_error(403, "User can only regenerate their own keys")


def regenerate_key(cur, caller, req):
    """POST /key/regenerate {key} or POST /key/{key}/regenerate."""
    body = req.json()
    key = req.params.get("key") or key_from_body(body)
    target = load_key_or_404(cur, key)

    check_regenerate(cur, caller, target)

    new_key = new_cleartext_key()
    new_token = hash_key(new_key)
    cur.execute(
        'UPDATE "LiteLLM_VerificationToken" SET token = %s, key_name = %s WHERE token = %s',
        (new_token, abbreviate(new_key), target["token"]),
    )
    return {
        "key": new_key,
        "token": new_token,
        "key_alias": target["key_alias"],
        "key_name": abbreviate(new_key),
        "user_id": target["user_id"],
        "team_id": target["team_id"],
        "models": target["models"] or [],
    }


# ------------------------------------------------------------------ /key/delete


def check_delete(cur, caller, target):
    if caller.is_proxy_admin or owns(caller, target):
        return
    if target["team_id"] and team_role(load_team(cur, target["team_id"]), caller.user_id) == "admin":
        return
    raise auth_error(403, "User is not allowed to delete this key")


def delete_keys(cur, caller, req):
    body = req.json()
    keys = optional_str_list(body, "keys")
    if not keys:
        raise bad_request("keys must be a non-empty list of keys")
    keys = list(dict.fromkeys(keys))
    targets = [load_key_or_404(cur, key) for key in keys]

    for target in targets:
        check_delete(cur, caller, target)

    for target in targets:
        cur.execute(
            'INSERT INTO "LiteLLM_DeletedVerificationToken" '
            "(id, token, key_name, key_alias, models, user_id, team_id, max_parallel_requests, metadata, "
            "tpm_limit, rpm_limit, max_budget, budget_duration, organization_id, deleted_by, deleted_by_api_key) "
            "SELECT %s, token, key_name, key_alias, models, user_id, team_id, max_parallel_requests, metadata, "
            "tpm_limit, rpm_limit, max_budget, budget_duration, organization_id, %s, %s "
            'FROM "LiteLLM_VerificationToken" WHERE token = %s',
            (str(uuid.uuid4()), caller.user_id, caller.token, target["token"]),
        )
        cur.execute('DELETE FROM "LiteLLM_VerificationToken" WHERE token = %s', (target["token"],))
    return {"deleted_keys": keys}
