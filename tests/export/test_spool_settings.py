"""Spool settings: keyword > LLMTEL_SPOOL* environment > default, validated with the setting's name."""

from __future__ import annotations

import os

import pytest

from llmtel.config import DEFAULT_SPOOL_MAX_BYTES, resolve_spool_settings
from llmtel.export.senders import transport_options


def test_defaults_put_the_spool_under_the_users_cache_per_service(tmp_path):
    settings = resolve_spool_settings(service_name="my svc/1", environ={"XDG_CACHE_HOME": str(tmp_path)})
    assert settings.enabled is True
    assert settings.directory == os.path.join(str(tmp_path), "llmtel", "spool", "my_svc_1")
    assert settings.max_bytes == DEFAULT_SPOOL_MAX_BYTES


def test_without_xdg_cache_home_the_spool_is_under_dot_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = resolve_spool_settings(service_name="svc", environ={})
    assert settings.directory == os.path.join(str(tmp_path), ".cache", "llmtel", "spool", "svc")


def test_environment_then_keywords_win(tmp_path):
    env = {"LLMTEL_SPOOL": "off", "LLMTEL_SPOOL_DIR": str(tmp_path / "env"), "LLMTEL_SPOOL_MAX_BYTES": "10MiB"}
    from_env = resolve_spool_settings(service_name="s", environ=env)
    assert (from_env.enabled, from_env.directory, from_env.max_bytes) == (False, str(tmp_path / "env"), 10 * 2**20)
    from_kw = resolve_spool_settings(
        service_name="s", environ=env, spool=True, spool_dir=tmp_path / "kw", spool_max_bytes=2_000_000
    )
    assert (from_kw.enabled, from_kw.directory, from_kw.max_bytes) == (True, str(tmp_path / "kw"), 2_000_000)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LLMTEL_SPOOL": "maybe"}, "LLMTEL_SPOOL"),
        ({"LLMTEL_SPOOL_MAX_BYTES": "lots"}, "LLMTEL_SPOOL_MAX_BYTES"),
        ({"LLMTEL_SPOOL_MAX_BYTES": "12"}, "LLMTEL_SPOOL_MAX_BYTES: must be at least"),
        ({"LLMTEL_SPOOL_MAX_BYTES": "5 parsecs"}, "LLMTEL_SPOOL_MAX_BYTES"),
    ],
)
def test_bad_values_name_the_setting(env, message):
    with pytest.raises(ValueError, match=message):
        resolve_spool_settings(service_name="s", environ=env)


def test_a_file_where_the_directory_should_be_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ValueError, match="spool_dir"):
        resolve_spool_settings(service_name="s", environ={}, spool_dir=target)


def test_instrument_rejects_a_bad_spool_keyword_before_setting_anything_up():
    import llmtel

    with pytest.raises(ValueError, match="spool_max_bytes"):
        llmtel.instrument(spool_max_bytes="huge")


def test_transport_timeout_and_tls_files_follow_the_otlp_variables():
    env = {
        "OTEL_EXPORTER_OTLP_TIMEOUT": "3",
        "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "0.5",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem",
    }
    assert transport_options("traces", env).timeout == 3.0
    assert transport_options("logs", env).timeout == 0.5
    assert transport_options("traces", env).certificate == "/ca.pem"
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_TIMEOUT"):
        transport_options("traces", {"OTEL_EXPORTER_OTLP_TIMEOUT": "-1"})
