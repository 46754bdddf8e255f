"""Can W&B log online? Answered in seconds, before a run starts, instead of after ``wandb.init``'s
90-second wait (no network) or its interactive login prompt (no API key).

``online_problem()`` names what stands in the way, or returns None. The CLI asks it when a config
sets ``WandbLogger(offline=false)`` and then logs offline instead, with one line saying why (an
offline run is uploaded later with ``wandb sync``).
"""

import netrc
import os
import socket
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "https://api.wandb.ai"


def online_problem(timeout_s: float = 5.0) -> str | None:
    """Why W&B cannot log online from here (no API key, server or proxy unreachable), or None."""
    base_url = os.environ.get("WANDB_BASE_URL") or DEFAULT_BASE_URL
    server = urlsplit(base_url).hostname or base_url
    if not has_api_key(server):
        return f"no W&B API key for {server} (run `wandb login` or set WANDB_API_KEY)"
    return unreachable(base_url, timeout_s)


def has_api_key(server: str) -> bool:
    """Whether wandb will find credentials: WANDB_API_KEY, an identity token file, or a netrc entry."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    try:
        return netrc.netrc(path).authenticators(server) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def unreachable(base_url: str, timeout_s: float) -> str | None:
    """Why no TCP connection to the server of ``base_url`` (or the proxy for it) opens within ``timeout_s``."""
    url = urlsplit(base_url)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(url.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_url = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxy_url.hostname or "", proxy_url.port or 80
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            outcome.append(None)
        except OSError as error:
            outcome.append(f"{host}:{port} cannot be reached ({error.strerror or error})")

    # A thread, because the socket timeout does not bound the name lookup, which can take longer.
    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return outcome[0] if outcome else f"{host}:{port} did not answer within {timeout_s:g} s"
