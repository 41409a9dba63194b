"""HTTP: the inbound webhooks and the read API (FastAPI; OpenAPI at ``/openapi.json``).

Owns: request parsing, status codes, and turning errors into clear 4xx replies. Does not own the
work: it hands verified callbacks to the hub and reads what the hub stored.
"""

from huiliu.web.app import create_app

__all__ = ["create_app"]
