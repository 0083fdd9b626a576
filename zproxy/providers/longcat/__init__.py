"""LongCat (Meituan's web chat): cookie credentials, one session per request, event streams.

`provider.py` holds the provider and the registry's `provider_info(settings)` (no I/O)
and `make_provider(session, settings, stored)`; the other modules are pure.
"""
