"""The HTTP API: `app` (the app, its one route table, errors), `middleware` (the URL limit, retry headers, the
request log), `params` (the one request-parameter model: query string, form, JSON and multipart bodies), `auth`
(the token, its workspace and grant), handlers by resource (`data`: events, endpoints, SQL; `rows`: appends and
replaces; `fetch`: their files from a URL; `deletes`; `jobs`; `resources`: pipes and data sources; `tokens`;
`copies`; `management`: workspaces, builds, deployments), `http` (bounded bodies, JSON answers), `cors`,
`dashboard` (static files)."""

from .app import create_app

__all__ = ["create_app"]
