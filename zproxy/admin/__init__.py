"""The admin: pages at /admin, the JSON API at /admin/api, the legacy /v1/token-pool routes.

    auth    who may enter: admin secret, signed session cookie, CSRF, login throttle
    spec    the one table of API routes (registration, /openapi.json and /docs read it)
    api     JSON handlers (the twin of every page action)
    legacy  /v1/token-pool/status|health-check|update, as earlier proxies' scripts expect
    pages   the HTML pages (aiohttp-jinja2)
"""
