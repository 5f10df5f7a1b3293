#!/usr/bin/env python3
"""Launcher for replay's `litellm` target (litellm.toml beside this file).

Every sub-command runs with the revision's checkout as the working directory,
under the interpreter of the target's build environment ({{env}}/bin/python):

  deps              Build step. pip-install what the revision needs into this
                    environment: the checkout with its `proxy` extra, the prisma
                    version its `proxy-dev` group pins (or REPLAY_LITELLM_PRISMA,
                    e.g. "prisma==0.15.0", when set), and (uv-workspace
                    revisions) its workspace members from their folders; with
                    REPLAY_LITELLM_UV=/path/to/uv, uv installs instead of pip. Then
                    uninstall the revision's own packages again, so the shared
                    environment holds dependencies only.
  prisma ARGS...    Run this environment's prisma CLI with its bin/ folder on
                    PATH (the schema's generator, prisma-client-py, is found
                    through PATH).
  boot --host H --port P
                    Put the checkout (and workspace members) first on the import
                    path, wrap the proxy app's lifespan so that premium_user is
                    forced on once startup has run, then hand over to LiteLLM's
                    own CLI entry point, run_server in litellm/proxy/proxy_cli.py.

Run against LiteLLM's releases 1.80.8 and 1.84.0 (replays/litellm-releases/
README.md): every step above built and booted them. The attributes it relies on are checked
one by one, with a clear message when a revision lacks one.
"""

import argparse
import contextlib
import glob
import os
import re
import subprocess
import sys


def say(message):
    print(f"litellm_launcher: {message}", file=sys.stderr, flush=True)


def die(message):
    say(f"error: {message}")
    sys.exit(2)


def read_toml(path):
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11: pip carries a TOML reader of its own
        from pip._vendor import tomli as tomllib
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def table(data, *keys):
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if data is not None else {}


def workspace_members(project):
    """Folders of the uv workspace members (newer revisions); none for Poetry ones."""
    folders = []
    for pattern in table(project, "tool", "uv", "workspace").get("members", []):
        for folder in sorted(glob.glob(pattern)):
            if os.path.normpath(folder) != "." and os.path.isfile(os.path.join(folder, "pyproject.toml")):
                folders.append(os.path.normpath(folder))
    return folders


def project_name(folder):
    project = read_toml(os.path.join(folder, "pyproject.toml"))
    return table(project, "project").get("name") or table(project, "tool", "poetry").get("name")


# Overrides the prisma requirement of every revision (litellm.toml passes it through
# and its value keys the build cache).
PRISMA_OVERRIDE = "REPLAY_LITELLM_PRISMA"


def prisma_requirement(project):
    """REPLAY_LITELLM_PRISMA when it is set, else the prisma the revision's
    `proxy-dev` group pins (CI installs that group)."""
    override = os.environ.get(PRISMA_OVERRIDE, "").strip()
    if override:
        if not re.match(r"(?i)prisma\s*([<>=!~;\[]|$)", override):
            die(f"{PRISMA_OVERRIDE}={override!r} is not a requirement of prisma (e.g. prisma==0.15.0)")
        say(f"{PRISMA_OVERRIDE} chooses {override}")
        return override
    for requirement in table(project, "dependency-groups").get("proxy-dev", []):
        if isinstance(requirement, str) and re.match(r"(?i)prisma\s*([<>=!~;\[]|$)", requirement.strip()):
            return requirement.strip()
    spec = table(project, "tool", "poetry", "group", "proxy-dev", "dependencies").get("prisma")
    if isinstance(spec, dict):
        spec = spec.get("version")
    if isinstance(spec, str) and spec.strip() not in ("", "*"):
        spec = spec.strip()
        if spec[0].isdigit():
            return f"prisma=={spec}"
        if spec[0] in "^~" and spec[1:2].isdigit():  # Poetry caret/tilde: keep the lower bound
            return f"prisma>={spec.lstrip('^~=')}"
        return f"prisma{spec}"
    say("no prisma pin found in the proxy-dev group; installing the newest prisma")
    return "prisma"


# A uv executable to install with instead of pip (litellm.toml passes it through and
# its value keys the build cache): the same resolution, with parallel downloads
# and a cache of its own, so that every release's environment does not download
# all of its ~170 packages again.
UV_OVERRIDE = "REPLAY_LITELLM_UV"


def installer():
    """The install and uninstall commands: pip of this environment, or uv."""
    uv = os.environ.get(UV_OVERRIDE, "").strip()
    if not uv:
        pip = [sys.executable, "-m", "pip"]
        quiet = ["--disable-pip-version-check", "--no-input", "--quiet"]
        return pip + ["install", *quiet], pip + ["uninstall", *quiet, "--yes"]
    if not os.access(uv, os.X_OK):
        die(f"{UV_OVERRIDE}={uv!r} is not an executable (the path of a uv binary)")
    say(f"{UV_OVERRIDE} installs with {uv}")
    target = ["--python", sys.executable, "--quiet"]
    # --no-sources: a release's sdist names its uv workspace members in
    # tool.uv.sources but does not hold them; pip ignores that table too.
    return [uv, "pip", "install", "--no-sources", *target], [uv, "pip", "uninstall", *target]


def deps():
    project = read_toml("pyproject.toml")
    members = workspace_members(project)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # keep the checkout out of pip's way
    install_command, uninstall_command = installer()
    install = [f"./{m}" for m in members] + [".[proxy]", prisma_requirement(project)]
    say(f"installing {' '.join(install)}")
    subprocess.run(install_command + install, env=env, check=True)
    own = ["litellm"] + [name for name in map(project_name, members) if name]
    say(f"uninstalling the revision's own packages again: {' '.join(own)}")
    subprocess.run(uninstall_command + own, env=env, check=True)


def bin_on_path():
    """Put this environment's bin/ first on PATH; return that folder."""
    folder = os.path.dirname(sys.executable)
    os.environ["PATH"] = folder + os.pathsep + os.environ.get("PATH", "")
    return folder


def prisma(args):
    folder = bin_on_path()
    executable = os.path.join(folder, "prisma")
    if not os.path.exists(executable):
        die(f"no prisma CLI in {folder}: did the build's `deps` step run?")
    os.execv(executable, [executable, *args])


def need(owner, attribute, where):
    if not hasattr(owner, attribute):
        die(f"{where} has no attribute `{attribute}`; this revision's API differs from what the launcher expects")
    return getattr(owner, attribute)


async def wait_for_token_view(proxy_server):
    """Await the view the lifespan creates in a background task (see upstream conftest)."""
    check = getattr(getattr(proxy_server, "prisma_client", None), "check_view_exists", None)
    if check is None:
        say("no prisma_client.check_view_exists; leaving the wait to ready.sql")
        return
    try:
        await check()
    except Exception as error:  # ready.sql still waits for the view
        say(f"check_view_exists failed ({error!r}); leaving the wait to ready.sql")


def premium_after_startup(startup, proxy_server):
    """Wrap a Starlette lifespan: after its startup, force premium_user on again."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with startup(app) as state:
            proxy_server.premium_user = True  # the lifespan re-runs the licence check
            await wait_for_token_view(proxy_server)
            say("startup done; premium_user forced on")
            yield state

    return lifespan


def start_proxy(host, port, checkout):
    """The LiteLLM-dependent part: patch the app, then call run_server."""
    import litellm

    where = os.path.realpath(getattr(litellm, "__file__", None) or "?")
    if not where.startswith(os.path.realpath(checkout) + os.sep):
        die(f"litellm is imported from {where}, not from the checkout {checkout}; the build env still holds litellm")
    from litellm.proxy import proxy_cli, proxy_server

    run_server = need(proxy_cli, "run_server", "litellm.proxy.proxy_cli")
    main = need(run_server, "main", "run_server (expected a click command)")
    router = need(need(proxy_server, "app", "litellm.proxy.proxy_server"), "router", "the proxy app")
    startup = need(router, "lifespan_context", "the proxy app's router")
    need(proxy_server, "premium_user", "litellm.proxy.proxy_server")
    proxy_server.premium_user = True  # the lifespan only re-checks the licence while this is False
    router.lifespan_context = premium_after_startup(startup, proxy_server)

    options = {getattr(p, "name", None) for p in getattr(run_server, "params", [])}
    args = ["--host", host, "--port", str(port)]
    if "num_workers" in options:
        args += ["--num_workers", "1"]  # one in-process worker serves the patched app object
    if "use_prisma_db_push" in options:
        args.append("--use_prisma_db_push")
    else:
        say("run_server has no --use_prisma_db_push; starting without it")
    say(f"run_server {' '.join(args)}")
    main(args=args, prog_name="litellm")


def boot(argv):
    parser = argparse.ArgumentParser(prog="litellm_launcher.py boot")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", required=True)
    options = parser.parse_args(argv)
    for variable in ("DATABASE_URL", "LITELLM_MASTER_KEY"):
        if not os.environ.get(variable):
            die(f"{variable} is not set")
    checkout = os.getcwd()
    members = workspace_members(read_toml("pyproject.toml")) if os.path.isfile("pyproject.toml") else []
    paths = [checkout] + [os.path.join(checkout, m) for m in members]
    sys.path[:0] = paths
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [os.environ.get("PYTHONPATH")] if p])
    bin_on_path()  # LiteLLM runs `prisma db push` itself at startup
    start_proxy(options.host, options.port, checkout)


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "deps" and not rest:
        deps()
    elif command == "prisma":
        prisma(rest)
    elif command == "boot":
        boot(rest)
    else:
        die(f"unknown command {' '.join(argv)!r}; see --help")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
