"""Teams: a team's row, and what a user is in it.

Team membership and team-admin status come from the team's members_with_roles
(a JSON list of {user_id, role}); the members column is not read.
"""


def load_team(cur, team_id):
    cur.execute(
        'SELECT team_id, organization_id, members_with_roles FROM "LiteLLM_TeamTable" WHERE team_id = %s',
        (team_id,),
    )
    return cur.fetchone()


def team_role(team, user_id):
    """The user's role in the team ("admin" or "user"), or None if not a member."""
    members = team["members_with_roles"] if team is not None else None
    if user_id is None or not isinstance(members, list):
        return None
    for member in members:
        if isinstance(member, dict) and member.get("user_id") == user_id:
            return member.get("role") or "user"
    return None
