#!/usr/bin/env python3
"""Which Tinybird Local workspace `tb --local build` uses from this folder, and its token.

From a project folder the Forward CLI never uses Tinybird Local's default workspace. It
picks, in this order (tinybird 5.0.3, tb/modules/cli.py and local_common.py):

1. the git branch, when there is one and it is not main/master (in a detached GitHub
   pull-request checkout: GITHUB_HEAD_REF), sanitized into a workspace name;
2. else the `name` in `.tinyb`;
3. else `Tinybird_Local_Build_<sha256 of the project path>`.

(A TB_TOKEN in the environment turns rule 1 off; the make targets that call `tb --local`
unset TB_HOST and TB_TOKEN, and so does this script, so both see the same rules.)

This script applies those rules with the CLI's own functions, finds that workspace on
Tinybird Local (GET /tokens, then GET /v1/user/workspaces), prints its token (or with
--name, its name) on stdout, and says on stderr which workspace it is and why.

Usage:
    python scripts/tb_local_workspace.py [--name]
Tinybird Local's address comes from TB_LOCAL_HOST / TB_LOCAL_PORT, as for the CLI.
"""

from __future__ import annotations

import argparse
import os
import sys

for _var in ("TB_HOST", "TB_TOKEN"):
    os.environ.pop(_var, None)

import requests  # noqa: E402
from tinybird.tb.modules.cli import (  # noqa: E402
    get_current_git_branch,
    get_local_workspace_name_from_git_branch,
    is_main_git_branch,
)
from tinybird.tb.modules.config import CLIConfig  # noqa: E402
from tinybird.tb.modules.local_common import TB_LOCAL_ADDRESS, get_build_workspace_name  # noqa: E402


def workspace_name(cwd: str) -> tuple[str, str]:
    """(name, why) of the workspace `tb --local build` uses when run in cwd."""
    branch = get_current_git_branch()
    if branch and not is_main_git_branch(branch):
        name = get_local_workspace_name_from_git_branch(branch)
        if name:
            return name, f"git branch {branch!r}"
    tinyb = CLIConfig.get_project_config()
    if tinyb.get("name"):
        return tinyb.get("name"), "the name in .tinyb"
    folder = os.path.normpath(os.path.join(cwd, tinyb.get("cwd", ".") or "."))
    return get_build_workspace_name(folder), f"no branch off main and no .tinyb name: hash of {folder}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", action="store_true", help="print the workspace name instead of its token")
    args = parser.parse_args(argv)

    name, why = workspace_name(os.getcwd())
    try:
        tokens = requests.get(f"{TB_LOCAL_ADDRESS}/tokens", timeout=10).json()
        listing = requests.get(
            f"{TB_LOCAL_ADDRESS}/v1/user/workspaces",
            params={"with_organization": "true", "token": tokens["admin_token"]},
            timeout=10,
        ).json()
    except (requests.RequestException, ValueError, KeyError) as e:
        print(f"tb-local-workspace: Tinybird Local at {TB_LOCAL_ADDRESS} did not answer: {e}", file=sys.stderr)
        return 1
    workspaces = listing.get("workspaces", [])
    found = next((ws for ws in workspaces if ws.get("name") == name), None)
    if found is None:
        names = ", ".join(sorted(ws.get("name", "?") for ws in workspaces)) or "none"
        print(
            f"tb-local-workspace: no workspace {name!r} ({why}) on {TB_LOCAL_ADDRESS}; "
            f"run `make local-build` first (workspaces there: {names})",
            file=sys.stderr,
        )
        return 1
    print(f"tb-local-workspace: {TB_LOCAL_ADDRESS} workspace {name!r} ({why})", file=sys.stderr)
    print(name if args.name else found["token"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
