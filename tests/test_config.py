"""Config files, source URIs and credentials: what a user types and what they are told.

Every mistake must come back as one line that names the file, the line of the
`[[sources]]` table and the field, so it can be fixed without guessing.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from logview.cli import resolve_sources
from logview.config import (
    ChronoverseSource,
    FalFilter,
    FalSource,
    FelderaSource,
    FileSource,
    GoldRushSource,
    RunPodSource,
    Settings,
    StdinSource,
    _by_pydantic,
    _source_adapter,
    config_path,
    finalize_names,
    load_settings,
    parse_source_uri,
    resolve_secret,
    source_from_table,
)
from logview.errors import ConfigError, MissingCredential

SECRET = "sk-live-9f8e7d6c5b4a"

EVERY_PROVIDER = """\
max_lines = 5000
theme = "logview-light"

[[sources]]
name = "sdxl"
provider = "runpod"
endpoint_id = "ep_abc123"
worker_id = "worker_abc"
base_url = "https://runpod.example"
api_key_env = "MY_RUNPOD_KEY"
source = "container"
tail = 500
since = "2026-01-02T03:04:05Z"

[[sources]]
provider = "fal"
app_id = ["a", "b"]
level = "error"
revision = "rev1"
run_source = "gateway"
traceback = true
search = "oom"
job_id = "j1"
request_id = "r1"
start = "2026-01-01T00:00:00Z"
end = "2026-01-02T00:00:00Z"
filters = [{ key = "fal_worker_id", value = ["w1", "w2"], condition_type = "in" }]

[[sources]]
provider = "feldera"
base_url = "http://localhost:8080"
pipeline = "etl"
insecure = true

[[sources]]
provider = "chronoverse"
workflow_id = "wf_1"
job_id = "job_1"
auth = "cookie"
api_key_command = "pass show chronoverse"

[[sources]]
provider = "goldrush"
pipeline_id = "pipe_123"
poll_interval = 0.5

[[sources]]
provider = "file"
path = "/var/log/app.log"
follow = false

[[sources]]
provider = "stdin"
"""


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    """The message of the ConfigError a config file raises; it must be one line."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- loading ----------------------------------------------------------------------


def test_every_providers_keys_load_into_their_models(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, EVERY_PROVIDER))
    runpod, fal, feldera, chrono, gold, file, stdin = settings.sources
    assert (settings.max_lines, settings.theme) == (5000, "logview-light")
    assert isinstance(runpod, RunPodSource)
    assert (runpod.endpoint_id, runpod.worker_id, runpod.source, runpod.tail, runpod.since) == (
        "ep_abc123",
        "worker_abc",
        "container",
        500,
        "2026-01-02T03:04:05Z",
    )
    assert (runpod.url_root, runpod.key_env) == ("https://runpod.example", "MY_RUNPOD_KEY")
    assert isinstance(fal, FalSource)
    assert (fal.app_id, fal.level, fal.revision, fal.run_source, fal.traceback, fal.search) == (
        ["a", "b"],
        "error",
        "rev1",
        "gateway",
        True,
        "oom",
    )
    assert (fal.job_id, fal.request_id, fal.start, fal.end) == (
        "j1",
        "r1",
        "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00Z",
    )
    assert [(f.key, f.value, f.condition_type) for f in fal.filters] == [("fal_worker_id", ["w1", "w2"], "in")]
    assert isinstance(feldera, FelderaSource)
    assert (feldera.url_root, feldera.pipeline, feldera.insecure) == ("http://localhost:8080", "etl", True)
    assert isinstance(chrono, ChronoverseSource)
    assert (chrono.workflow_id, chrono.job_id, chrono.auth, chrono.api_key_command) == (
        "wf_1",
        "job_1",
        "cookie",
        "pass show chronoverse",
    )
    assert isinstance(gold, GoldRushSource)
    assert (gold.pipeline_id, gold.poll_interval) == ("pipe_123", 0.5)
    assert isinstance(file, FileSource)
    assert (file.path, file.follow) == ("/var/log/app.log", False)
    assert isinstance(stdin, StdinSource)


def test_default_base_urls_and_key_envs_are_the_providers_own(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, EVERY_PROVIDER))
    _, fal, _, chrono, gold, _, _ = settings.sources
    assert [(s.url_root, s.key_env) for s in (fal, chrono, gold)] == [
        ("https://api.fal.ai", "FAL_KEY"),
        ("https://api.chronoverse.dev", "CHRONOVERSE_TOKEN"),
        ("https://api.covalenthq.com", "GOLDRUSH_SERVICE_KEY"),
    ]


def test_default_names_are_derived_from_the_ids(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, EVERY_PROVIDER))
    assert [s.name for s in settings.sources] == ["sdxl", "a", "etl", "job_1", "pipe_123", "app.log", "stdin"]


def test_derived_names_that_collide_are_numbered(tmp_path: Path) -> None:
    text = '[[sources]]\nprovider = "goldrush"\npipeline_id = "p"\n' * 3
    settings = load_settings(write(tmp_path, text))
    assert [s.name for s in settings.sources] == ["p", "p-2", "p-3"]


def test_derived_names_never_take_a_name_given_explicitly() -> None:
    specs = [
        parse_source_uri("goldrush://p"),
        parse_source_uri("goldrush://p"),
        GoldRushSource(provider="goldrush", pipeline_id="q", name="p-2"),
    ]
    names = [s.name for s in finalize_names(specs)]
    assert len(set(names)) == 3
    assert names[2] == "p-2"


def test_a_derived_name_does_not_clash_with_a_later_explicit_one() -> None:
    specs = [parse_source_uri("goldrush://p"), GoldRushSource(provider="goldrush", pipeline_id="q", name="p")]
    names = [s.name for s in finalize_names(specs)]
    assert names[1] == "p"
    assert names[0] != "p"


def test_two_sources_given_the_same_name_are_an_error(tmp_path: Path) -> None:
    text = '[[sources]]\nname = "x"\nprovider = "stdin"\n\n[[sources]]\nname = "x"\nprovider = "goldrush"\npipeline_id = "p"\n'
    assert "'x'" in config_error(tmp_path, text)


def test_a_uri_source_is_renamed_rather_than_clash_with_a_configured_one() -> None:
    settings = Settings(sources=finalize_names([parse_source_uri("goldrush://pipe_1")]))
    specs = resolve_sources(settings, ["pipe_1", "goldrush://pipe_1"])
    assert len({s.name for s in specs}) == 2


def test_an_empty_file_has_no_sources_and_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""))
    assert (settings.sources, settings.max_lines, settings.theme) == ([], 1_000_000, "logview-dark")


def test_no_config_file_means_default_settings() -> None:
    assert load_settings(None) == Settings()


# --- one line per mistake ------------------------------------------------------------

BAD_SECOND_SOURCE = '[[sources]]\nprovider = "stdin"\n\n# the next one is wrong\n[[sources]]\n{}'


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ('provider = "runpod"\nendpoint_id = "ep"\n', "worker_id", "Field required"),
        ('provider = "runpod"\nendpoint_id = "ep"\nworker_id = "w"\ncolour = "red"\n', "colour", "Extra inputs"),
        ('provider = "papertrail"\n', "provider", "provider must be one of"),
        ('endpoint_id = "ep"\n', "provider", "missing 'provider'"),
        ('provider = "runpod"\nendpoint_id = "ep"\nworker_id = "w"\ntail = 5001\n', "tail", "5000"),
        ('provider = "runpod"\nendpoint_id = "ep"\nworker_id = "w"\ntail = -1\n', "tail", "0"),
        ('provider = "feldera"\npipeline = "etl"\n', "base_url", "set base_url"),
        ('provider = "goldrush"\npipeline_id = "p"\npoll_interval = 0\n', "poll_interval", "greater than 0"),
    ],
    ids=[
        "missing-field",
        "unknown-key",
        "bad-provider",
        "no-provider",
        "tail-too-big",
        "tail-negative",
        "feldera-without-base-url",
        "poll-interval-zero",
    ],
)
def test_a_bad_source_is_one_line_naming_file_table_line_and_field(
    tmp_path: Path, body: str, field: str, says: str
) -> None:
    message = config_error(tmp_path, BAD_SECOND_SOURCE.format(body))
    path = tmp_path / "config.toml"
    assert message.startswith(f"{path} line 5 (sources #2)")
    assert f": {field}: " in message
    assert says in message


def test_a_bad_source_with_a_name_is_called_by_it(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[[sources]]\nname = "etl"\nprovider = "feldera"\npipeline = "etl"\n')
    assert "line 1 (sources #1 'etl'): base_url:" in message


def test_bad_toml_is_one_line_naming_the_file_and_the_line(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[[sources]]\nprovider = "stdin"\nname = "unterminated\n')
    assert message.startswith(f"{tmp_path / 'config.toml'}: not valid TOML")
    assert "line 3" in message


def test_an_unreadable_config_file_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)  # a directory cannot be read as a file
    assert str(info.value).startswith(f"{tmp_path}: cannot read config file")


def test_a_missing_config_file_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read config file"):
        load_settings(tmp_path / "nope.toml")


def test_a_bad_top_level_setting_names_the_file_and_the_setting(tmp_path: Path) -> None:
    message = config_error(tmp_path, "max_lines = 10\n")
    assert message.startswith(f"{tmp_path / 'config.toml'}: max_lines: ")


def test_sources_that_are_not_tables_are_an_error(tmp_path: Path) -> None:
    assert "[[sources]]" in config_error(tmp_path, 'sources = "runpod"\n')


def test_a_secret_written_into_the_config_file_is_not_echoed(tmp_path: Path) -> None:
    message = config_error(tmp_path, f'[[sources]]\nprovider = "stdin"\napi_key = "{SECRET}"\n')
    assert "api_key" in message
    assert SECRET not in message


# --- taken as they are, or through pydantic ------------------------------------------------

PLAIN = """\
max_lines = 5000
[[sources]]
provider = "runpod"
endpoint_id = "ep"
worker_id = "w"
tail = 500
[[sources]]
provider = "fal"
app_id = ["a"]
[[sources]]
provider = "feldera"
base_url = "http://localhost:8080"
pipeline = "etl"
[[sources]]
provider = "goldrush"
pipeline_id = "p"
poll_interval = 0.5
"""


def test_a_plain_config_and_file_arguments_are_read_without_pydantic(tmp_path: Path) -> None:
    """pydantic costs a fifth of a second of start-up: it is loaded only for a table to convert or explain."""
    code = f"""
import sys
from pathlib import Path
from logview.config import finalize_names, load_settings, parse_source_uri
settings = load_settings(Path({str(write(tmp_path, PLAIN))!r}))
finalize_names([parse_source_uri("./app.log"), parse_source_uri("-")])
assert len(settings.sources) == 4 and settings.max_lines == 5000
print("pydantic" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("table", tomllib.loads(EVERY_PROVIDER)["sources"], ids=lambda t: t["provider"])
def test_a_table_taken_as_it_is_is_what_pydantic_makes_of_it(table: dict[str, Any]) -> None:
    assert source_from_table(table) == _by_pydantic(_source_adapter(), table)


def test_values_that_need_converting_are_converted(tmp_path: Path) -> None:
    text = '[[sources]]\nprovider = "goldrush"\npipeline_id = "p"\npoll_interval = 2\n'
    text += '[[sources]]\nprovider = "fal"\napp_id = "my-app"\n'
    gold, fal = load_settings(write(tmp_path, text)).sources
    assert gold.poll_interval == 2.0
    assert isinstance(gold.poll_interval, float)
    assert fal.app_id == ["my-app"]


def test_a_source_checks_its_values_when_made_directly_too() -> None:
    with pytest.raises(ValueError, match="5000"):
        RunPodSource(provider="runpod", endpoint_id="ep", worker_id="w", tail=5001)
    with pytest.raises(ValueError, match="set base_url"):
        FelderaSource(provider="feldera", pipeline="etl")
    with pytest.raises(ValueError, match="greater than 0"):
        GoldRushSource(provider="goldrush", pipeline_id="p").model_copy(update={"poll_interval": 0})
    with pytest.raises(TypeError):
        FileSource(provider="file", path="x", colour="red")  # type: ignore[call-arg]


def test_settings_validate_a_whole_config_given_as_a_dict() -> None:
    settings = Settings.model_validate(
        {
            "max_lines": 5000,
            "sources": [{"provider": "stdin"}, {"provider": "fal", "filters": [{"key": "k", "value": "v"}]}],
        }
    )
    stdin, fal = settings.sources
    assert (settings.max_lines, stdin) == (5000, StdinSource(provider="stdin"))
    assert fal.filters == [FalFilter(key="k", value="v")]
    assert fal.filters[0].model_dump(exclude_none=True) == {"key": "k", "value": "v"}
    with pytest.raises(ValueError, match="1000"):
        Settings.model_validate({"max_lines": 10})


# --- where the config file is ------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.delenv("LOGVIEW_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return monkeypatch


def test_config_flag_wins_over_env_and_xdg(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "xdg" / "logview").mkdir(parents=True)
    write(tmp_path / "xdg" / "logview", "")
    clean_env.setenv("LOGVIEW_CONFIG", str(tmp_path / "env.toml"))
    assert config_path(str(tmp_path / "flag.toml")) == tmp_path / "flag.toml"


def test_logview_config_env_wins_over_xdg(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "xdg" / "logview").mkdir(parents=True)
    write(tmp_path / "xdg" / "logview", "")
    clean_env.setenv("LOGVIEW_CONFIG", str(tmp_path / "env.toml"))
    assert config_path(None) == tmp_path / "env.toml"


def test_xdg_config_home_is_used_when_nothing_else_is_given(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "xdg" / "logview").mkdir(parents=True)
    write(tmp_path / "xdg" / "logview", "")
    assert config_path(None) == tmp_path / "xdg" / "logview" / "config.toml"


def test_no_config_file_anywhere_gives_none(clean_env: pytest.MonkeyPatch) -> None:
    assert config_path(None) is None


# --- source URIs ---------------------------------------------------------------------------


def test_runpod_uri_gives_endpoint_worker_and_options() -> None:
    spec = parse_source_uri("runpod://ep_abc123/worker_abc?tail=500")
    assert isinstance(spec, RunPodSource)
    assert (spec.endpoint_id, spec.worker_id, spec.tail, spec.name) == ("ep_abc123", "worker_abc", 500, "")


def test_fal_uri_repeats_and_splits_app_ids() -> None:
    spec = parse_source_uri("fal://?app_id=a&app_id=b,c&level=error")
    assert isinstance(spec, FalSource)
    assert (spec.app_id, spec.level) == (["a", "b", "c"], "error")


def test_feldera_uri_takes_base_url_from_the_query() -> None:
    spec = parse_source_uri("feldera://etl?base_url=http://localhost:8080")
    assert isinstance(spec, FelderaSource)
    assert (spec.pipeline, spec.url_root) == ("etl", "http://localhost:8080")


def test_chronoverse_uri_gives_workflow_and_job() -> None:
    spec = parse_source_uri("chronoverse://wf_1/job_2")
    assert isinstance(spec, ChronoverseSource)
    assert (spec.workflow_id, spec.job_id) == ("wf_1", "job_2")


def test_goldrush_uri_gives_the_pipeline() -> None:
    spec = parse_source_uri("goldrush://pipe_123?poll_interval=0.5")
    assert isinstance(spec, GoldRushSource)
    assert (spec.pipeline_id, spec.poll_interval) == ("pipe_123", 0.5)


def test_uri_ids_are_percent_decoded() -> None:
    spec = parse_source_uri("chronoverse://wf%201/job%2F2")
    assert (spec.workflow_id, spec.job_id) == ("wf 1", "job/2")


def test_a_path_is_a_followed_file() -> None:
    spec = parse_source_uri("./logs/app.log")
    assert isinstance(spec, FileSource)
    assert (spec.path, spec.follow) == ("./logs/app.log", True)


def test_a_dash_is_stdin() -> None:
    assert isinstance(parse_source_uri("-"), StdinSource)


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("papertrail://x", "unknown scheme 'papertrail://'"),
        ("runpod://ep_only", "expected runpod://ENDPOINT_ID/WORKER_ID"),
        ("chronoverse://wf/job/extra", "expected chronoverse://WORKFLOW_ID/JOB_ID"),
        ("fal://my-app", "expected fal://?key=value"),
        ("feldera://etl", "base_url"),
        ("runpod://ep/w?tail=lots", "tail"),
        ("runpod://ep/w?tail=9999", "tail"),
        ("goldrush://p?colour=red", "colour"),
    ],
)
def test_a_bad_uri_is_one_config_error_line(uri: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_source_uri(uri)
    assert says in str(info.value)
    assert "\n" not in str(info.value)


def test_a_secret_put_in_a_uri_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        parse_source_uri(f"runpod://ep/w?api_key={SECRET}")
    assert "api_key" in str(info.value)
    assert SECRET not in str(info.value)


def test_a_password_in_an_unknown_uri_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        parse_source_uri(f"https://user:{SECRET}@example.com/logs")
    assert SECRET not in str(info.value)


# --- credentials ---------------------------------------------------------------------------


def python(code: str) -> str:
    """A key command that runs Python code."""
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def runpod(**kw: Any) -> RunPodSource:
    return RunPodSource(provider="runpod", endpoint_id="ep", worker_id="w", **kw)


def test_secret_comes_from_the_default_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", f"  {SECRET}\n")
    assert resolve_secret(runpod()) == SECRET


def test_secret_comes_from_the_configured_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    monkeypatch.setenv("WORK_RUNPOD", SECRET)
    assert resolve_secret(runpod(api_key_env="WORK_RUNPOD")) == SECRET


def test_secret_comes_from_the_first_line_of_the_key_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    command = python(f"print('{SECRET}'); print('second line')")
    assert resolve_secret(runpod(api_key_command=command)) == SECRET


def test_a_missing_secret_names_the_env_var_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAL_KEY", raising=False)
    with pytest.raises(MissingCredential, match="FAL_KEY"):
        resolve_secret(FalSource(provider="fal"))


def test_a_failing_key_command_does_not_echo_its_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    command = python(f"import sys; print('{SECRET}'); sys.exit(3)")
    with pytest.raises(MissingCredential) as info:
        resolve_secret(runpod(api_key_command=command))
    assert "exited 3" in str(info.value)
    assert SECRET not in str(info.value)


def test_a_key_command_that_cannot_run_is_a_missing_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    with pytest.raises(MissingCredential, match="could not run"):
        resolve_secret(runpod(api_key_command="/nonexistent/logview-key-helper"))


def test_feldera_without_a_key_needs_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FELDERA_API_KEY", raising=False)
    assert resolve_secret(FelderaSource(provider="feldera", base_url="http://localhost:8080", pipeline="p")) is None


def test_feldera_uses_its_key_when_one_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FELDERA_API_KEY", SECRET)
    assert resolve_secret(FelderaSource(provider="feldera", base_url="http://x", pipeline="p")) == SECRET


def test_local_sources_need_no_secret() -> None:
    assert resolve_secret(FileSource(provider="file", path="x")) is None
