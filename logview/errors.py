"""Exceptions, and how the streamer treats each.

    LogviewError
    ├── ConfigError            bad config file, URI or option: fatal, before streaming
    └── SourceError            one source failed; the others keep going
        ├── FatalSourceError   retrying cannot help: stop the source, say why
        │   ├── AuthError      401/403: wrong, revoked or wrong kind of key
        │   ├── NotFoundError  404: unknown pipeline, worker gone, ...
        │   └── MissingCredential  the env var / command gave no secret
        └── RetryableError     back off and reconnect
            ├── RateLimited    429, with the server's Retry-After if any
            ├── ServerError    5xx, or a body we could not use
            ├── StreamCut      the connection dropped or closed early
            └── Stalled        nothing arrived within the read timeout

Every message is written for the person at the terminal and never contains a
secret: adapters build them from status codes and server error bodies only.
"""

from __future__ import annotations


class LogviewError(Exception):
    """Base of every error logview raises on purpose."""


class ConfigError(LogviewError):
    """The configuration, a source URI or a CLI option is wrong."""


class SourceError(LogviewError):
    """A source failed; the message says what and what to do."""


class FatalSourceError(SourceError):
    """Retrying cannot help."""


class AuthError(FatalSourceError):
    """The server refused the credential (401/403)."""


class NotFoundError(FatalSourceError):
    """The thing to read logs of does not exist (404)."""


class MissingCredential(FatalSourceError):
    """No secret could be found for a source that needs one."""


class RetryableError(SourceError):
    """Worth another try after a delay.

    `retry_after` is the server's own hint in seconds (Retry-After, SSE
    `retry:`), preferred over our backoff when present.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(RetryableError):
    """429 Too Many Requests."""


class ServerError(RetryableError):
    """5xx, or an answer we could not use."""


class StreamCut(RetryableError):
    """The connection dropped or the server closed the stream early."""


class Stalled(RetryableError):
    """Nothing arrived for longer than the source's stall timeout."""
