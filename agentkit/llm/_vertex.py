"""Google Vertex AI: the OpenAI-compatible endpoint and bearer tokens from Application Default
Credentials (``google-auth``, the optional ``vertex`` extra).

Vertex serves partner and open models (Kimi K2 Thinking as ``moonshotai/kimi-k2-thinking-maas``,
region ``global`` only, per Google's "Kimi models" page) through the Chat Completions API at
``https://{host}/v1/projects/{project}/locations/{location}/endpoints/openapi`` where ``host`` is
``aiplatform.googleapis.com`` for ``global`` and ``{location}-aiplatform.googleapis.com``
otherwise. Requests carry ``Authorization: Bearer <access token>``; tokens last about an hour.

The token lives only in the credentials object and in each request's headers: never in the
client's attributes, configs or traces.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from typing import Any

import anyio

from agentkit.llm.errors import AuthenticationFailed, ConfigurationError

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_PROJECT_VARS = ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
_LOCATION_VARS = ("GOOGLE_CLOUD_LOCATION", "GOOGLE_CLOUD_REGION")


def _env(names: tuple[str, ...]) -> str | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def _project_from_credentials_file() -> str | None:
    """The project named in the ``GOOGLE_APPLICATION_CREDENTIALS`` file, read without google-auth."""
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            info = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    for key in ("project_id", "quota_project_id"):
        if isinstance(info.get(key), str) and info[key]:
            return str(info[key])
    return None


def vertex_base_url(project: str | None = None, location: str | None = None) -> str:
    """The OpenAI-compatible base URL for ``project`` and ``location`` (from the environment when
    not given: ``GOOGLE_CLOUD_PROJECT`` or the credentials file; ``GOOGLE_CLOUD_LOCATION``, default
    ``global``)."""
    project = project or _env(_PROJECT_VARS) or _project_from_credentials_file()
    if not project:
        raise ConfigurationError(
            "provider 'vertex' needs a Google Cloud project: set GOOGLE_CLOUD_PROJECT "
            "(and GOOGLE_CLOUD_LOCATION, default 'global') or pass base_url"
        )
    location = location or _env(_LOCATION_VARS) or "global"
    host = "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
    return f"https://{host}/v1/projects/{project}/locations/{location}/endpoints/openapi"


def require_google_auth() -> None:
    if importlib.util.find_spec("google.auth") is None or importlib.util.find_spec("requests") is None:
        raise ConfigurationError("provider 'vertex' needs google-auth: pip install 'agentkit[vertex]'")


class GoogleAccessToken:
    """Access tokens from Application Default Credentials, refreshed before they expire.

    ``google-auth`` counts a token as stale 3 min 45 s before its expiry; a stale or missing
    token is refreshed in a worker thread (the refresh is a blocking HTTP call), one refresh at
    a time. A fresh token is returned without leaving the event loop.
    """

    def __init__(self, scopes: tuple[str, ...] = (CLOUD_PLATFORM_SCOPE,)) -> None:
        self._scopes = scopes
        self._credentials: Any = None
        self._lock = threading.Lock()

    async def token(self) -> str:
        credentials = self._credentials
        if credentials is not None and credentials.valid:
            return str(credentials.token)
        return await anyio.to_thread.run_sync(self._fresh_token)

    def _fresh_token(self) -> str:
        import google.auth
        import google.auth.exceptions
        import google.auth.transport.requests

        with self._lock:
            try:
                if self._credentials is None:
                    self._credentials, _ = google.auth.default(scopes=list(self._scopes))
                credentials = self._credentials
                if not credentials.valid:
                    credentials.refresh(google.auth.transport.requests.Request())
            except google.auth.exceptions.GoogleAuthError as exc:
                raise AuthenticationFailed(
                    f"vertex: could not get a Google access token from Application Default Credentials: {exc}"
                ) from None
            return str(credentials.token)
