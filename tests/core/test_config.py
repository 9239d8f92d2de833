from __future__ import annotations

import json
from pathlib import Path

import pytest

from azure_durable_ext.config import load_host_config, parse_durable_options, parse_timespan
from azure_durable_ext.core.errors import ConfigurationError
from azure_durable_ext.core.options import DurableTaskOptions, OverridableStates
from azure_durable_ext.core.status import OrchestrationStatus
from azure_durable_ext.core.versions import VersionFailureStrategy, VersionMatchStrategy


def test_defaults_are_the_durable_functions_defaults() -> None:
    d = DurableTaskOptions()
    assert d.hub_name == "TestHubName"
    assert d.default_version is None
    assert d.version_match_strategy is VersionMatchStrategy.CURRENT_OR_OLDER
    assert d.version_failure_strategy is VersionFailureStrategy.REJECT
    assert d.max_orchestration_actions == 100_000
    assert d.max_grpc_message_size_in_bytes == 4_194_304
    assert d.overridable_existing_instance_states is OverridableStates.NON_RUNNING_STATES
    assert (d.extended_sessions_enabled, d.extended_session_idle_timeout_in_seconds) == (False, 30)
    s = d.storage
    assert (s.connection_name, s.partition_count, s.control_queue_batch_size) == ("AzureWebJobsStorage", 4, 32)
    assert (s.control_queue_visibility_timeout, s.max_queue_polling_interval) == (300.0, 30.0)


def test_dedupe_statuses() -> None:
    assert OverridableStates.ANY_STATE.dedupe_statuses == frozenset()
    assert OrchestrationStatus.RUNNING in OverridableStates.NON_RUNNING_STATES.dedupe_statuses
    assert OrchestrationStatus.COMPLETED not in OverridableStates.NON_RUNNING_STATES.dedupe_statuses


def test_host_json_is_read_case_insensitively(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(json.dumps({
        "version": "2.0",
        "extensions": {"durableTask": {
            "hubName": "SampleHub", "defaultVersion": "2.0.0", "VersionMatchStrategy": "strict",
            "versionFailureStrategy": "Fail", "overridableExistingInstanceStates": "AnyState",
            "extendedSessionsEnabled": True, "extendedSessionIdleTimeoutInSeconds": 5,
            "storageProvider": {"partitionCount": 2, "maxQueuePollingInterval": "00:00:05"},
        }},
    }))
    (tmp_path / "local.settings.json").write_text(json.dumps(
        {"IsEncrypted": False, "Values": {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "N": 3}}))
    config = load_host_config(tmp_path)
    d = config.durable
    assert (d.hub_name, d.default_version) == ("SampleHub", "2.0.0")
    assert d.version_match_strategy is VersionMatchStrategy.STRICT
    assert d.version_failure_strategy is VersionFailureStrategy.FAIL
    assert d.overridable_existing_instance_states is OverridableStates.ANY_STATE
    assert (d.extended_sessions_enabled, d.extended_session_idle_timeout_in_seconds) == (True, 5)
    assert (d.storage.partition_count, d.storage.max_queue_polling_interval) == (2, 5.0)
    assert config.storage_connection_string == "UseDevelopmentStorage=true"
    assert config.settings["N"] == "3"
    assert d.versioning.version == "2.0.0"


def test_environment_wins_over_local_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"AzureWebJobsStorage": "from-file"}}))
    monkeypatch.setenv("AzureWebJobsStorage", "from-env")
    assert load_host_config(tmp_path).storage_connection_string == "from-env"


def _app(tmp_path: Path, durable: dict, values: dict | None = None) -> Path:
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"durableTask": durable}}))
    if values is not None:
        (tmp_path / "local.settings.json").write_text(json.dumps({"Values": values}))
    return tmp_path


def test_app_settings_override_host_json_as_in_the_functions_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app(tmp_path, {"hubName": "FromFile", "storageProvider": {"partitionCount": 2}}, {
        "AzureFunctionsJobHost__extensions__durableTask__hubName": "FromValues",
        "AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval": "00:00:07",
    })
    # Key matching is case-insensitive; the environment wins over local.settings.json.
    monkeypatch.setenv("AZUREFUNCTIONSJOBHOST__EXTENSIONS__DURABLETASK__STORAGEPROVIDER__PARTITIONCOUNT", "8")
    monkeypatch.setenv("AzureFunctionsJobHost__extensions__durableTask__defaultVersion", "3.0.0")
    d = load_host_config(app).durable
    assert (d.hub_name, d.default_version) == ("FromValues", "3.0.0")
    assert (d.storage.partition_count, d.storage.max_queue_polling_interval) == (8, 7.0)
    monkeypatch.setenv("AzureFunctionsJobHost__extensions__durableTask__hubName", "FromEnv")
    assert load_host_config(app).durable.hub_name == "FromEnv"


def test_overrides_create_missing_sections_and_refuse_a_value_as_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    monkeypatch.setenv("AzureFunctionsJobHost__extensions__durableTask__hubName", "NoDurableSection")
    assert load_host_config(tmp_path).durable.hub_name == "NoDurableSection"
    monkeypatch.setenv("AzureFunctionsJobHost__version__durableTask", "x")
    with pytest.raises(ConfigurationError, match="AzureFunctionsJobHost__version__durableTask: host.json 'version' is a value"):
        load_host_config(tmp_path)


def test_hub_name_can_name_an_app_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app(tmp_path, {"hubName": "%MyTaskHub%"}, {"MyTaskHub": "FromValues"})
    assert load_host_config(app).durable.hub_name == "FromValues"
    monkeypatch.setenv("MyTaskHub", "FromEnv")
    assert load_host_config(app).durable.hub_name == "FromEnv"
    monkeypatch.setenv("MyTaskHub", "not a hub!")
    with pytest.raises(ConfigurationError, match="hubName"):
        load_host_config(app)


def test_a_hub_name_reference_to_a_missing_setting_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"hubName: app setting 'NoSuchSetting' \(from '%NoSuchSetting%'\) is not set"):
        load_host_config(_app(tmp_path, {"hubName": "%NoSuchSetting%"}, {}))


def test_missing_files_give_defaults(tmp_path: Path) -> None:
    assert load_host_config(tmp_path).durable.hub_name == "TestHubName"


@pytest.mark.parametrize(
    ("durable", "message"),
    [
        ({"hubName": "a-b"}, r"durableTask.hubName: invalid task hub name 'a-b'"),
        ({"hubName": "x" * 46}, r"3-45 characters"),
        ({"defaultVersion": "1 0"}, r"durableTask.defaultVersion: invalid version"),
        ({"versionMatchStrategy": "Newest"}, r"versionMatchStrategy: expected one of None, Strict, CurrentOrOlder"),
        ({"maxOrchestrationActions": "many"}, r"maxOrchestrationActions: expected an integer"),
        ({"maxGrpcMessageSizeInBytes": 0}, r"maxGrpcMessageSizeInBytes: must be a positive integer"),
        ({"extendedSessionsEnabled": "yes"}, r"extendedSessionsEnabled: expected true or false"),
        ({"extendedSessionIdleTimeoutInSeconds": 0}, r"extendedSessionIdleTimeoutInSeconds: must be a positive integer"),
        ({"extendedSessionIdleTimeoutInSeconds": "soon"}, r"extendedSessionIdleTimeoutInSeconds: expected an integer"),
        ({"storageProvider": {"partitionCount": 17}}, r"storageProvider: partitionCount must be between 1 and 16"),
        ({"storageProvider": {"controlQueueVisibilityTimeout": "5 minutes"}}, r"controlQueueVisibilityTimeout: expected a TimeSpan"),
        ({"storageProvider": []}, r"storageProvider: expected a JSON object"),
    ],
)
def test_malformed_values_name_file_and_key(durable: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        parse_durable_options({"extensions": {"durableTask": durable}}, "app/host.json")
    assert str(info.value).startswith("app/host.json.extensions.durableTask")


def test_malformed_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text('{"version": "2.0",,}')
    with pytest.raises(ConfigurationError, match=r"host.json: not valid JSON: .* line 1"):
        load_host_config(tmp_path)


def test_explicit_host_json_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_host_config(host_json=tmp_path / "nope.json")


@pytest.mark.parametrize(("text", "seconds"), [("00:05:00", 300.0), ("1.00:00:01", 86401.0), ("00:00:00.5", 0.5), (12, 12.0)])
def test_timespans(text: object, seconds: float) -> None:
    assert parse_timespan(text, "k") == seconds
