"""Fail fast, in one sentence, when a Hugging Face Hub model or dataset can be neither read nor fetched.

Without this, a machine with no route to the Hub spends a minute in retries inside ``transformers`` or
``datasets`` and then prints a long chained traceback. :func:`hub_unreachable` asks once, with a short
timeout, and :class:`HubUnavailableError` shows only its message in a notebook (IPython renders
``_render_traceback_`` instead of the frames), so the reader sees what is missing and how to go on.
"""

from __future__ import annotations

import os

#: Seconds to wait for the Hub's answer before calling it unreachable.
PROBE_TIMEOUT_S = 10.0


class HubUnavailableError(OSError):
    """A model or dataset is not available locally and cannot be downloaded from the Hub."""

    def _render_traceback_(self) -> list[str]:  # IPython: show the sentence, not the stack
        return [f"{type(self).__name__}: {self}"]


def hub_offline() -> bool:
    """``$HF_HUB_OFFLINE`` is set to a true value (read now, not at ``huggingface_hub``'s import)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return bool(constants.HF_HUB_OFFLINE) or value in ("1", "true", "yes", "on")


def hub_unreachable(repo_id: str, repo_type: str = "model", revision: str | None = None) -> str | None:
    """Why ``repo_id`` cannot be fetched now (offline mode, or the Hub did not answer), else ``None``.

    One request with a :data:`PROBE_TIMEOUT_S` timeout and no retries. An HTTP answer (even "gated" or
    "not found") means the Hub is reachable: the caller's own loader then reports that error in full.
    """
    if hub_offline():
        return "HF_HUB_OFFLINE is set"
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        HfApi().repo_info(repo_id, repo_type=repo_type, revision=revision, timeout=PROBE_TIMEOUT_S)
    except HfHubHTTPError:
        return None
    except Exception as error:  # DNS, refused connection, proxy, TLS, timeout: no answer from the Hub
        return f"the Hub did not answer ({type(error).__name__})"
    return None


def model_cached(repo_id: str, revision: str | None = None) -> bool:
    """The Hub cache holds ``config.json`` of ``repo_id`` at ``revision`` (a model downloaded before)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json", revision=revision), str)
