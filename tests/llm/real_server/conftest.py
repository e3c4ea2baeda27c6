"""The real-server tier: ``llama_server``, one llama-cpp-python server for the session (_llama_server)."""

from _llama_server import llama_server  # noqa: F401
