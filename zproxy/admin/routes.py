"""`setup_admin(app)`: the admin pages, the admin API and the legacy pool routes."""

from __future__ import annotations

from aiohttp import web

from zproxy.admin.api import AdminApi
from zproxy.admin.auth import AdminAuth
from zproxy.admin.pages import AdminPages
from zproxy.keys import SETTINGS


def setup_admin(app: web.Application) -> None:
    auth = AdminAuth(app[SETTINGS])  # one login throttle for the pages and the API
    app.router.add_routes(AdminApi(auth).routes())
    app.router.add_routes(AdminPages(auth).routes())
