"""The client- and provider-neutral core: events, the normalized request, the provider
interface, the model catalogue, failure classification and text reconstruction.

Imports nothing above it (no front door, no provider) and no aiohttp
(`tests/unit/test_imports.py`).
"""
