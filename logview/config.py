"""Sources and settings: the TOML config file, source URIs, credentials.

Every source is a frozen dataclass, chosen by its `provider` key. Option
names follow each API's own parameter names, so the provider's docs double
as logview's.

A table that plainly fits (known keys, each value already of its field's
type) is taken as it is. Anything else goes to pydantic, which converts what
it can (`tail=500` from a URI's query string) and words what is wrong; so
pydantic, 0.1-0.2 s of start-up, is loaded only for those.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shlex
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from logview.errors import ConfigError, MissingCredential

if TYPE_CHECKING:
    from pydantic import TypeAdapter

T = TypeVar("T", bound="_Table")


class _FieldError(ValueError):
    """A bad value of one field, found by a check of the dataclass itself."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.field = name


class _Invalid(ValueError):
    """What pydantic found wrong with a table: its errors, first one first."""

    def __init__(self, errors: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(errors[0]["msg"])
        self.errors = errors


def _check_number(
    name: str, value: float | None, *, ge: float | None = None, gt: float | None = None, le: float | None = None
) -> None:
    """A number field's bounds, said as pydantic says them."""
    if value is None:
        return
    if ge is not None and value < ge:
        raise _FieldError(name, f"Input should be greater than or equal to {ge}")
    if gt is not None and value <= gt:
        raise _FieldError(name, f"Input should be greater than {gt}")
    if le is not None and value > le:
        raise _FieldError(name, f"Input should be less than or equal to {le}")


@dataclass(frozen=True, kw_only=True)
class _Table:
    """What the config's dataclasses share, under pydantic's names for it."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}  # read by pydantic

    @classmethod
    def model_validate(cls, data: Any) -> Self:
        """`data` (a table) as one of these; raises a ValueError saying what is wrong."""
        return _validate(cls, data)

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Self:
        """A copy with the fields in `update` changed (and checked as in a new one)."""
        return dataclasses.replace(self, **(update or {}))

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {k: v for k, v in data.items() if v is not None} if exclude_none else data


@dataclass(frozen=True, kw_only=True)
class KeyringEntry(_Table):
    """Where in the system keyring a secret is: `{ service = "logview", username = "runpod" }`."""

    service: str
    username: str

    def __post_init__(self) -> None:
        for name in ("service", "username"):
            if not getattr(self, name):
                raise _FieldError(name, "String should have at least 1 character")


@dataclass(frozen=True, kw_only=True)
class _Source(_Table):
    """Keys every source has."""

    name: str = ""
    """Unique name shown in the UI; derived from the ids when empty."""
    base_url: str = ""
    """The API's root URL; each provider has a default (Feldera has none)."""
    api_key_env: str = ""
    """Environment variable holding the secret; each provider has a default."""
    api_key_command: str = ""
    """A command whose first output line is the secret (e.g. `pass show runpod`)."""
    api_key_keyring: KeyringEntry | None = None
    """An entry of the system keyring holding the secret (needs `logview[keyring]`)."""
    insecure: bool = False
    """Skip TLS verification (self-signed self-hosted installs only)."""

    default_base_url: ClassVar[str] = ""

    def derived_name(self) -> str:
        return self.name or "source"

    @property
    def url_root(self) -> str:
        return (self.base_url or self.default_base_url).rstrip("/")

    @property
    def key_env(self) -> str:
        return self.api_key_env or DEFAULT_KEY_ENV.get(str(getattr(self, "provider", "")), "")

    @property
    def needs_key(self) -> bool:
        return True


@dataclass(frozen=True, kw_only=True)
class RunPodSource(_Source):
    """RunPod serverless worker logs (SSE)."""

    provider: Literal["runpod"]
    default_base_url: ClassVar[str] = "https://api.runpod.io"
    endpoint_id: str
    """Serverless endpoint id (`ep_...`)."""
    worker_id: str
    """Worker id, from the endpoint's workers list."""
    source: Literal["container", "system"] | None = None
    """Which log source; omitted means both."""
    tail: int | None = None
    """Lines of history to backfill on first connect, 0 to 5000 (server default 100)."""
    since: str | None = None
    """RFC 3339 timestamp to start from instead of a tail."""

    def __post_init__(self) -> None:
        _check_number("tail", self.tail, ge=0, le=5000)

    def derived_name(self) -> str:
        return self.name or self.worker_id


@dataclass(frozen=True, kw_only=True)
class FalFilter(_Table):
    key: str
    value: str | list[str]
    condition_type: Literal["equals", "in", "not_equals", "not_in"] | None = None


@dataclass(frozen=True, kw_only=True)
class FalSource(_Source):
    """fal serverless logs (SSE over POST)."""

    provider: Literal["fal"]
    default_base_url: ClassVar[str] = "https://api.fal.ai"
    path: str = "/v1/serverless/logs/stream"
    """Stream path (fal's CLI uses another host and path; keep it settable)."""
    filters: list[FalFilter] = field(default_factory=list)
    """Label filters, sent as the JSON body."""
    app_id: list[str] | str = field(default_factory=list)
    """One app id or a list of them; always a list once made."""
    revision: str | None = None
    run_source: Literal["grpc-run", "grpc-register", "gateway", "cron"] | None = None
    traceback: bool | None = None
    search: str | None = None
    level: str | None = None
    job_id: str | None = None
    request_id: str | None = None
    start: str | None = None
    """ISO 8601 start; the server defaults to 24 hours ago."""
    end: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.app_id, str):
            object.__setattr__(self, "app_id", [self.app_id])  # frozen: set as __init__ does

    def derived_name(self) -> str:
        return self.name or (self.app_id[0] if self.app_id else "fal")


@dataclass(frozen=True, kw_only=True)
class FelderaSource(_Source):
    """Feldera pipeline logs (plain-text stream)."""

    provider: Literal["feldera"]
    pipeline: str

    def __post_init__(self) -> None:
        if not self.base_url:
            raise _FieldError("base_url", "Feldera is self-hosted: set base_url (e.g. http://localhost:8080)")

    @property
    def needs_key(self) -> bool:
        return False  # local installs run without auth

    def derived_name(self) -> str:
        return self.name or self.pipeline


@dataclass(frozen=True, kw_only=True)
class ChronoverseSource(_Source):
    """Chronoverse job events (SSE with named events)."""

    provider: Literal["chronoverse"]
    default_base_url: ClassVar[str] = "https://api.chronoverse.dev"
    workflow_id: str
    job_id: str
    auth: Literal["bearer", "cookie"] = "bearer"
    """`cookie` sends the secret as the `session` cookie (self-hosted server)."""

    def derived_name(self) -> str:
        return self.name or self.job_id


@dataclass(frozen=True, kw_only=True)
class GoldRushSource(_Source):
    """GoldRush pipeline logs (polled JSON, grouped by pod)."""

    provider: Literal["goldrush"]
    default_base_url: ClassVar[str] = "https://api.covalenthq.com"
    pipeline_id: str
    poll_interval: float = 2.0
    """Seconds between polls (at most an hour)."""

    def __post_init__(self) -> None:
        _check_number("poll_interval", self.poll_interval, gt=0, le=3600)

    def derived_name(self) -> str:
        return self.name or self.pipeline_id


@dataclass(frozen=True, kw_only=True)
class FileSource(_Source):
    """A local file, followed like `tail -F` (survives truncation and rotation)."""

    provider: Literal["file"]
    path: str
    follow: bool = True

    @property
    def needs_key(self) -> bool:
        return False

    def derived_name(self) -> str:
        return self.name or Path(self.path).name


@dataclass(frozen=True, kw_only=True)
class StdinSource(_Source):
    """Standard input."""

    provider: Literal["stdin"]

    @property
    def needs_key(self) -> bool:
        return False

    def derived_name(self) -> str:
        return self.name or "stdin"


SourceSpec = RunPodSource | FalSource | FelderaSource | ChronoverseSource | GoldRushSource | FileSource | StdinSource
_BY_PROVIDER: dict[str, type[SourceSpec]] = {
    "runpod": RunPodSource,
    "fal": FalSource,
    "feldera": FelderaSource,
    "chronoverse": ChronoverseSource,
    "goldrush": GoldRushSource,
    "file": FileSource,
    "stdin": StdinSource,
}
PROVIDERS = tuple(_BY_PROVIDER)
DEFAULT_KEY_ENV = {
    "runpod": "RUNPOD_API_KEY",
    "fal": "FAL_KEY",
    "feldera": "FELDERA_API_KEY",
    "chronoverse": "CHRONOVERSE_TOKEN",
    "goldrush": "GOLDRUSH_SERVICE_KEY",
}


@dataclass(frozen=True, kw_only=True)
class Settings(_Table):
    """The whole config file."""

    sources: list[Any] = field(default_factory=list)
    """The configured sources (`SourceSpec`s), each validated on its own."""
    max_lines: int = 1_000_000
    """How many events the store keeps before evicting the oldest."""
    theme: str = "logview-dark"
    warnings: list[str] = field(default_factory=list, init=False, compare=False, repr=False)
    """Problems worth telling the user that do not stop logview (printed to stderr)."""

    def __post_init__(self) -> None:
        _check_number("max_lines", self.max_lines, ge=1000)

    @classmethod
    def model_validate(cls, data: Any) -> Self:
        """A whole config as a dict (`sources` a list of tables); raises a ValueError saying what is wrong."""
        rest = {k: v for k, v in data.items() if k != "sources"}
        return dataclasses.replace(
            _validate(cls, rest), sources=[source_from_table(t) for t in data.get("sources", [])]
        )


# --- validating -----------------------------------------------------------------


def source_from_table(table: Any) -> SourceSpec:
    """A source from its table (`{"provider": "runpod", ...}`); raises a ValueError saying what is wrong."""
    provider = table.get("provider") if isinstance(table, dict) else None
    cls = _BY_PROVIDER.get(provider) if isinstance(provider, str) else None
    made = _made_as_is(cls, table) if cls is not None else None
    spec: SourceSpec = made if made is not None else _by_pydantic(_source_adapter(), table)
    return spec


def _validate(cls: type[T], data: Any) -> T:
    klass: type = cls  # (as `type[T]`, mypy takes the instances' __hash__ for the class's)
    made = _made_as_is(cls, data) if isinstance(data, dict) else None
    return made if made is not None else _by_pydantic(_adapter(klass), data)


def _made_as_is(cls: type[T], data: dict[str, Any]) -> T | None:
    """`cls(**data)` when `data` plainly fits: every key a field, every value
    already of its field's type, the required ones there, the dataclass's own
    checks passed. Else None: for pydantic, to convert what it can or say
    what is wrong and where."""
    klass: type = cls
    fits, required = _field_types(klass)
    if not required <= data.keys() or not all(k in fits and fits[k](v) for k, v in data.items()):
        return None
    try:
        return cls(**data)
    except _FieldError:
        return None


@functools.cache
def _field_types(cls: type) -> tuple[dict[str, Callable[[Any], bool]], frozenset[str]]:
    """For each field of `cls` that a table sets, a test that a value is of its
    type as it is; and the fields a table must set."""
    hints = typing.get_type_hints(cls)
    fits = {}
    required = set()
    for f in dataclasses.fields(cls):
        if f.init:
            fits[f.name] = _is_exactly(hints[f.name])
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                required.add(f.name)
    return fits, frozenset(required)


def _is_exactly(tp: Any) -> Callable[[Any], bool]:
    """A test that a value is of type `tp` with nothing to convert; for a type
    not plain enough to tell (a nested table), one that always says no."""
    if tp in (str, int, float, bool, type(None)):
        return lambda v: type(v) is tp
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin is Literal:
        return lambda v: any(type(v) is type(a) and v == a for a in args)
    if origin is types.UnionType:
        tests = [_is_exactly(a) for a in args]
        return lambda v: any(test(v) for test in tests)
    if origin is list:
        item = _is_exactly(args[0])
        return lambda v: type(v) is list and all(item(x) for x in v)
    return lambda v: False


def _by_pydantic(adapter: TypeAdapter[Any], data: Any) -> Any:
    from pydantic import ValidationError

    try:
        return adapter.validate_python(data)
    except ValidationError as e:
        raise _Invalid(e.errors()) from None


@functools.cache
def _adapter(cls: type) -> TypeAdapter[Any]:
    from pydantic import TypeAdapter

    return TypeAdapter(cls)


@functools.cache
def _source_adapter() -> TypeAdapter[Any]:
    from typing import Annotated

    from pydantic import Field, TypeAdapter

    return TypeAdapter(Annotated[SourceSpec, Field(discriminator="provider")])


# --- loading ------------------------------------------------------------------


def config_path(explicit: str | None = None) -> Path | None:
    """Where the config file is: --config, else $LOGVIEW_CONFIG, else XDG."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("LOGVIEW_CONFIG")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    p = Path(xdg) / "logview" / "config.toml"
    return p if p.exists() else None


def _describe(err: _Invalid, prefix: str) -> str:
    first = err.errors[0]
    loc = [str(x) for x in first["loc"] if not str(x).startswith(("function-", "tagged-union"))]
    # drop the union tag ("runpod") pydantic inserts in the location
    loc = [x for x in loc if x not in PROVIDERS]
    msg = first["msg"]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, _FieldError):  # a dataclass's own check: pydantic placed the table, it names the field
        loc.append(cause.field)
        msg = str(cause)
    elif first["type"] == "unexpected_keyword_argument":
        msg = "Extra inputs are not permitted"
    field = ".".join(loc) or "value"
    if first["type"] == "union_tag_invalid":
        msg = f"provider must be one of: {', '.join(PROVIDERS)}"
        field = "provider"
    elif first["type"] == "union_tag_not_found":
        msg = "missing 'provider' (one of: " + ", ".join(PROVIDERS) + ")"
        field = "provider"
    extra = f" (+{len(err.errors) - 1} more)" if len(err.errors) > 1 else ""
    return f"{prefix}: {field}: {msg}{extra}"


def _sources_lines(text: str) -> list[int]:
    return [i + 1 for i, line in enumerate(text.splitlines()) if re.match(r"\s*\[\[\s*sources\s*\]\]", line)]


def load_settings(path: Path | None) -> Settings:
    """Read and validate a config file; every problem is one ConfigError line."""
    if path is None:
        return Settings()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config file: {e.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    lines = _sources_lines(text)
    sources = raw.get("sources", [])
    if not isinstance(sources, list):
        raise ConfigError(f"{path}: 'sources' must be a list of [[sources]] tables")
    specs: list[Any] = []
    for i, entry in enumerate(sources):
        where = f"{path} line {lines[i]}" if i < len(lines) else f"{path}"
        label = f"sources #{i + 1}"
        if isinstance(entry, dict) and entry.get("name"):
            label += f" '{entry['name']}'"
        try:
            spec = source_from_table(entry)
        except _Invalid as e:
            raise ConfigError(_describe(e, f"{where} ({label})")) from None
        specs.append(spec)
    rest = {k: v for k, v in raw.items() if k != "sources"}
    try:
        settings = _validate(Settings, rest)
    except _Invalid as e:
        raise ConfigError(_describe(e, str(path))) from None
    settings = dataclasses.replace(settings, sources=finalize_names(specs))
    settings.warnings.extend(permission_warnings(path, specs))
    return settings


def permission_warnings(path: Path, specs: Iterable[Any]) -> list[str]:
    """Warn, like ssh, when a file naming an `api_key_command` is open to other users.

    Whoever can write it runs a command of their choice as you the next time
    logview starts; whoever can read it learns where your keys are kept.
    """
    if os.name != "posix" or not any(getattr(spec, "api_key_command", "") for spec in specs):
        return []
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    who = [what for what, bits in (("read", 0o044), ("written", 0o022)) if mode & bits]
    if not who:
        return []
    return [
        f"{path} can be {' and '.join(who)} by other users and it names an api_key_command: "
        f"run `chmod 600 {shlex.quote(str(path))}`"
    ]


def finalize_names(specs: list[Any], taken: Iterable[str] = ()) -> list[Any]:
    """Give every source a unique name (derived from its ids when unset).

    Names given explicitly are kept, and must be unique; a derived name never
    takes one of them (nor one in `taken`): it gets -2, -3, ... instead.
    """
    explicit = [spec.name for spec in specs if spec.name]
    for name in explicit:
        if explicit.count(name) > 1:
            raise ConfigError(f"two sources are named '{name}': names must be unique")
    used = {*taken, *explicit}
    out = []
    for spec in specs:
        if spec.name:
            out.append(spec)
            continue
        base = name = spec.derived_name()
        n = 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        out.append(spec.model_copy(update={"name": name}))
    return out


# --- source URIs ----------------------------------------------------------------

_URI_PATHS: dict[str, tuple[str, ...]] = {
    "runpod": ("endpoint_id", "worker_id"),
    "fal": (),
    "feldera": ("pipeline",),
    "chronoverse": ("workflow_id", "job_id"),
    "goldrush": ("pipeline_id",),
}
_LIST_KEYS = {"app_id"}


def parse_source_uri(uri: str) -> SourceSpec:
    """A source from a command-line argument: `runpod://EP/WORKER?tail=500`, a path, or `-`."""
    if uri == "-":
        return StdinSource(provider="stdin")
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if not scheme:
        return FileSource(provider="file", path=uri)
    if scheme not in _URI_PATHS:
        known = ", ".join(f"{k}://" for k in _URI_PATHS)
        raise ConfigError(f"{_shown(uri)}: unknown scheme '{scheme}://' (known: {known}, a file path, or - for stdin)")
    parts = urlsplit(uri)
    ids = [unquote(p) for p in (parts.netloc, *parts.path.split("/")) if p]
    names = _URI_PATHS[scheme]
    if len(ids) != len(names):
        shape = "/".join(n.upper() for n in names) or "?key=value..."
        raise ConfigError(f"{_shown(uri)}: expected {scheme}://{shape}")
    data: dict[str, Any] = {"provider": scheme, **dict(zip(names, ids, strict=True))}
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        if key in _LIST_KEYS:
            data[key] = [v for item in values for v in item.split(",") if v]
        else:
            data[key] = values[-1]
    try:
        return source_from_table(data)
    except _Invalid as e:
        raise ConfigError(_describe(e, _shown(uri))) from None


def _shown(uri: str) -> str:
    """A URI as echoed in an error: without user info and query, either may hold a secret."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


# --- credentials -------------------------------------------------------------------


def resolve_secret(spec: Any) -> str | None:
    """The source's secret: its environment variable, else its keyring entry, else its command.

    Raises MissingCredential naming what to set; the secret itself is never
    put in any message. The keyring and the command may block (an unlock
    prompt, `pass` asking for a passphrase): callers on an event loop run
    this in a thread when `slow_secret(spec)` says so.
    """
    keyring_entry: KeyringEntry | None = getattr(spec, "api_key_keyring", None)
    if not spec.needs_key and not spec.api_key_env and not spec.api_key_command and keyring_entry is None:
        value = os.environ.get(spec.key_env) if spec.key_env else None
        return value or None
    env = spec.key_env
    if env and os.environ.get(env):
        return os.environ[env].strip()
    if keyring_entry is not None:
        return _from_keyring(spec, keyring_entry)
    if spec.api_key_command:
        import subprocess

        try:
            res = subprocess.run(
                shlex.split(spec.api_key_command), capture_output=True, text=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise MissingCredential(f"api_key_command could not run ({type(e).__name__})") from None
        if res.returncode != 0 or not res.stdout.strip():
            raise MissingCredential(f"api_key_command exited {res.returncode} without a key")
        return res.stdout.strip().splitlines()[0]
    raise MissingCredential(f"no API key: set the environment variable {env}")


def slow_secret(spec: Any) -> bool:
    """Whether resolving the secret may block (a key command or the keyring)."""
    return bool(getattr(spec, "api_key_command", "")) or getattr(spec, "api_key_keyring", None) is not None


def _from_keyring(spec: Any, entry: KeyringEntry) -> str:
    where = f"source {spec.name or spec.derived_name()!r}: api_key_keyring (service {entry.service!r}, username {entry.username!r})"
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise MissingCredential(
            f"{where} needs the keyring library: pip install 'logview[keyring]'"
            + (f", or set {spec.key_env}" if spec.key_env else "")
        ) from None
    try:
        value = keyring.get_password(entry.service, entry.username)
    except keyring.errors.KeyringError as e:
        # the class name only: a backend's message is not ours to vouch for
        raise MissingCredential(f"{where}: the keyring could not be read ({type(e).__name__})") from None
    if not value or not value.strip():
        raise MissingCredential(
            f"{where}: no such entry; add it with `keyring set {shlex.quote(entry.service)} {shlex.quote(entry.username)}`"
        )
    return value.strip()
