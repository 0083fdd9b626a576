"""Upstream providers: one package each (zai/, k2think/, longcat/), a shared HTTP error
mapping (`http.py`) and the registry that routes model names to them."""
