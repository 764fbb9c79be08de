"""The HTTP API: `app` (the app and its one route table), handlers by resource (`data`: events,
endpoints, SQL; `management`: workspaces, builds, deployments; `resources`: tokens, pipes, data
sources, jobs), `http` (reading requests), `cors`, `dashboard` (static files)."""

from .app import create_app

__all__ = ["create_app"]
