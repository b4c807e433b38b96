"""The system keyring as a source of secrets (`api_key_keyring` in the config).

A real keyring backend that keeps its entries in memory is installed with
`keyring.set_keyring`; nothing touches the machine's own keyring.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from logview.config import RunPodSource, load_settings, resolve_secret
from logview.errors import ConfigError, MissingCredential

keyring = pytest.importorskip("keyring")
from keyring.backend import KeyringBackend  # noqa: E402
from keyring.errors import KeyringLocked, PasswordDeleteError  # noqa: E402

SECRET = "sk-live-9f8e7d6c5b4a"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def runpod(**kw: object) -> RunPodSource:
    return RunPodSource.model_validate({"provider": "runpod", "endpoint_id": "ep", "worker_id": "w", **kw})


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps its entries in a dict."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, *, locked: bool = False) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}
        self.locked = locked
        self.reads: list[tuple[str, str]] = []

    def get_password(self, service: str, username: str) -> str | None:
        if self.locked:
            raise KeyringLocked(f"locked; the entry would have been {SECRET}")
        self.reads.append((service, username))
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(before)


KEYRING_SOURCE = """\
[[sources]]
name = "sdxl"
provider = "runpod"
endpoint_id = "ep_abc123"
worker_id = "worker_abc"
api_key_keyring = { service = "logview", username = "runpod" }
"""


def test_secret_comes_from_the_keyring_entry_named_in_the_config(
    tmp_path: Path, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    keyring.set_password("logview", "runpod", f"{SECRET}\n")
    (spec,) = load_settings(write(tmp_path, KEYRING_SOURCE)).sources
    assert resolve_secret(spec) == SECRET
    assert memory_keyring.reads == [("logview", "runpod")]


def test_the_environment_variable_wins_over_the_keyring(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.set_password("logview", "runpod", "from-the-keyring")
    monkeypatch.setenv("RUNPOD_API_KEY", SECRET)
    assert resolve_secret(runpod(api_key_keyring={"service": "logview", "username": "runpod"})) == SECRET
    assert memory_keyring.reads == []


def test_a_missing_keyring_entry_names_the_source_and_the_entry(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    keyring.set_password("logview", "other", SECRET)
    spec = runpod(name="sdxl", api_key_keyring={"service": "logview", "username": "runpod"})
    with pytest.raises(MissingCredential) as info:
        resolve_secret(spec)
    message = str(info.value)
    assert "source 'sdxl'" in message and "'logview'" in message and "'runpod'" in message
    assert "keyring set logview runpod" in message
    assert SECRET not in message


def test_a_locked_keyring_is_a_missing_credential_without_the_backends_words(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    memory_keyring.locked = True
    with pytest.raises(MissingCredential) as info:
        resolve_secret(runpod(name="sdxl", api_key_keyring={"service": "logview", "username": "runpod"}))
    assert "could not be read (KeyringLocked)" in str(info.value)
    assert SECRET not in str(info.value)


def test_without_the_keyring_library_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    monkeypatch.setitem(sys.modules, "keyring", None)  # `import keyring` now raises ImportError
    with pytest.raises(MissingCredential) as info:
        resolve_secret(runpod(name="sdxl", api_key_keyring={"service": "logview", "username": "runpod"}))
    assert "source 'sdxl'" in str(info.value)
    assert "pip install 'logview[keyring]'" in str(info.value)
    assert "RUNPOD_API_KEY" in str(info.value)


def test_a_keyring_entry_without_a_username_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    text = KEYRING_SOURCE.replace(', username = "runpod"', "")
    with pytest.raises(ConfigError, match=r"api_key_keyring\.username"):
        load_settings(write(tmp_path, text))
