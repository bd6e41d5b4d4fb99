"""Where the client finds the gateway and its credential when the caller does not say.

``MEDIATASKS_URL`` and ``MEDIATASKS_API_KEY``, then the key ``mediatasks up`` writes to
``<MEDIATASKS_STATE_DIR or .state>/api-key``. This is the client's one settings reader:
the SDK must import without the server's settings (pydantic and the rest).
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8080"


def default_base_url() -> str:
    return os.environ.get("MEDIATASKS_URL", "").strip() or DEFAULT_URL


def default_api_key() -> str:
    key = os.environ.get("MEDIATASKS_API_KEY", "").strip()
    if key:
        return key
    state_key = Path(os.environ.get("MEDIATASKS_STATE_DIR", ".state")) / "api-key"
    try:
        return state_key.read_text().strip()
    except OSError:
        return ""
