"""K2Think (MBZUAI's Open WebUI web chat): guest or user-token completions, snapshot streams.

`provider.py` holds the provider and the registry's `provider_info(settings)` (no I/O)
and `make_provider(session, settings, stored)`; the other modules are pure.
"""
