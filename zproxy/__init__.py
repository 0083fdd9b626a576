"""zproxy: an OpenAI-compatible gateway to Z.AI GLM web chat."""

__version__ = "0.1.0"
