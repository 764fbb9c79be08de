"""tblocal serve | tokens | load."""

import argparse
import fcntl
import json
import logging
import os
import sys
from pathlib import Path

from .datadir import DataDir
from .errors import ApiError
from .project import ProjectError
from .settings import Settings


def _lock(data_dir: Path):
    """Hold the data dir for this process: chDB must not open it twice."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(DataDir(data_dir).lock, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(
            f"tblocal: {data_dir} is in use by another tblocal process; stop it, or use the HTTP API "
            f"(scripts/ingest.py) to load data while it runs"
        ) from None
    return handle


def _workspaces(settings: Settings, rebuild_views: bool = False):
    from .workspaces import Workspaces

    try:
        return Workspaces(settings, rebuild_views=rebuild_views)
    except ProjectError as e:
        raise SystemExit(f"tblocal: {e}") from None


def _progress(total: int, label: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=total < 4 * 1024 * 1024 or None)


def load_fixtures(ws, folder: Path) -> None:
    """Load folder/<datasource>.ndjson (or .csv) into each data source when the data dir is empty."""
    if any(ws.row_counts().values()):
        return
    for name in ws.project.datasources:
        for path in (folder / f"{name}.ndjson", folder / f"{name}.csv"):
            if path.exists():
                with _progress(path.stat().st_size, f"loading {path.name}") as bar:
                    ok, bad = ws.load_file(path, name, progress=bar.update)
                print(f"tblocal: loaded {path}: {ok} rows, {bad} quarantined", file=sys.stderr)


def serve(args, settings: Settings) -> None:
    """Run the HTTP API until interrupted; pending rows are written before exit."""
    import uvicorn

    from .api import create_app

    lock = _lock(settings.data_dir)
    workspaces = _workspaces(settings, args.rebuild_views)
    ws = workspaces.default
    if args.load_fixtures:
        load_fixtures(ws, Path(args.load_fixtures))
    base = f"http://{settings.host}:{settings.port}"
    # The first endpoint over the project's own data (a monitoring one over tinybird.* is empty at start).
    endpoints = ws.project.endpoints
    own = [n for n in sorted(endpoints) if not any("tinybird." in node.sql for node in endpoints[n].nodes)]
    first_pipe = next(iter(own or sorted(endpoints)), None)
    print(f"tblocal: serving {settings.project.resolve()} on {base}", file=sys.stderr)
    print(f"tblocal: admin token: {ws.tokens.admin.token}", file=sys.stderr)
    if first_pipe:
        print(f'tblocal: try: curl "{base}/v0/pipes/{first_pipe}.json?token={ws.tokens.admin.token}"', file=sys.stderr)
    read = ws.tokens.by_name("endpoints_read")
    if read:  # the read token goes in the #fragment, which browsers never send to a server
        print(f"tblocal: dashboard: {base}/dashboard#token={read.token}", file=sys.stderr)
    sys.stderr.flush()
    uvicorn.run(
        create_app(workspaces),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
        loop="uvloop",
        http="h11",  # h11 lets a long URL reach the app for a JSON 414; httptools answers a plain-text 400
        h11_max_incomplete_event_size=4 * 1024 * 1024,  # long URLs reach the app and get a JSON 414, not a reset
    )
    lock.close()


def tokens(args, settings: Settings) -> None:
    """Print every token with its scopes, as GET /v0/tokens answers."""
    from .project import load_project
    from .tokens import TokenStore
    from .workspace import DEFAULT_DATABASE

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        project = load_project(settings.project)
    except ProjectError as e:
        raise SystemExit(f"tblocal: {e}") from None
    store = TokenStore(DataDir(settings.data_dir).tokens(DEFAULT_DATABASE), project, settings.admin_token)
    print(json.dumps({"tokens": [g.as_json() for g in store.grants]}, indent=2))


def load(args, settings: Settings) -> None:
    """Append a local NDJSON or CSV file to a data source, offline."""
    lock = _lock(settings.data_dir)
    ws = _workspaces(settings).default
    path = Path(args.file)
    if not path.exists():
        raise SystemExit(f"tblocal: {path}: no such file")
    try:
        with _progress(path.stat().st_size, f"loading {path.name}") as bar:
            ok, bad = ws.load_file(path, args.datasource, progress=bar.update)
    except ApiError as e:
        raise SystemExit(f"tblocal: {e.message}") from None
    print(json.dumps({"successful_rows": ok, "quarantined_rows": bad}))
    from . import usage

    usage.recorder(ws.engine).close()  # the load, in datasources_ops_log
    lock.close()


def parser() -> argparse.ArgumentParser:
    """The command line, with every setting as a flag."""
    command_line = argparse.ArgumentParser(prog="tblocal", description="Tinybird's HTTP API on embedded ClickHouse (chDB)")
    sub = command_line.add_subparsers(dest="command", required=True)

    def common(command):
        command.add_argument("--data-dir", help="chDB data, tokens and schema state (env TBLOCAL_DATA_DIR; default .tblocal)")
        command.add_argument("--project", help="Forward project folder: its .datasource and .pipe files, there or one folder down (env TBLOCAL_PROJECT; default .)")

    serve_cmd = sub.add_parser("serve", help="serve the project's HTTP API")
    common(serve_cmd)
    serve_cmd.add_argument("--host", help="address to bind (env TBLOCAL_HOST; default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, help="port (env TBLOCAL_PORT; default 7181)")
    serve_cmd.add_argument("--load-fixtures", metavar="DIR", help="load DIR/<datasource>.ndjson when the data dir is empty")
    serve_cmd.add_argument("--rebuild-views", action="store_true", help="rebuild changed materialized views from their sources")
    serve_cmd.set_defaults(run=serve)
    tokens_cmd = sub.add_parser("tokens", help="print the tokens and their scopes")
    common(tokens_cmd)
    tokens_cmd.set_defaults(run=tokens)
    load_cmd = sub.add_parser("load", help="append a local NDJSON or CSV file (server stopped)")
    common(load_cmd)
    load_cmd.add_argument("file")
    load_cmd.add_argument("--datasource", required=True)
    load_cmd.set_defaults(run=load)
    return command_line


def main(argv=None) -> None:
    """Entry point of the tblocal command."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("TBLOCAL_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    overrides = {k: getattr(args, k, None) for k in ("host", "port", "data_dir", "project")}
    settings = Settings.from_env(**overrides)
    args.run(args, settings)


if __name__ == "__main__":
    main()
