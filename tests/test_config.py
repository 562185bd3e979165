"""Settings resolution: keyword > environment > default, and clear errors for unusable values."""

from __future__ import annotations

import logging

import pytest

from llmtel import config
from llmtel.config import DEFAULT_SHUTDOWN_TIMEOUT, parse_key_value_list, resolve_settings


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    """Each configuration warning is logged once per process: every test starts with none given yet."""
    monkeypatch.setattr(config, "_warned", set(), raising=False)


def resolve(env: dict[str, str] | None = None, **kwargs):
    return resolve_settings(environ=env or {}, **kwargs)


def test_defaults_follow_the_otlp_specification():
    s = resolve()
    assert s.service_name == "unknown_service"
    for signal in ("traces", "metrics", "logs"):
        export = s.signal(signal)
        assert export.exporter == "otlp"
        assert export.protocol == "http/protobuf"
        assert export.endpoint == f"http://localhost:4318/v1/{signal}"
        assert export.headers == {}
        assert export.compression is None
    assert s.sampler == "parentbased_always_on"
    assert s.shutdown_timeout == DEFAULT_SHUTDOWN_TIMEOUT
    assert s.metric_export_interval == 60.0
    assert s.disabled is False
    assert s.disabled_instrumentations == frozenset()


def test_grpc_default_endpoint_is_4317_without_signal_path():
    s = resolve({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert s.traces.protocol == "grpc"
    assert s.traces.endpoint == "http://localhost:4317"
    assert s.traces.insecure is True


def test_environment_is_read():
    env = {
        "OTEL_SERVICE_NAME": "checkout",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod,team=ml%20ops",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
        "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20abc, x-tenant=t1",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.25",
        "OTEL_METRIC_EXPORT_INTERVAL": "5000",
        "LLMTEL_SHUTDOWN_TIMEOUT": "0.5",
        "OTEL_PYTHON_LOG_LEVEL": "info",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "requests, httpx2",
    }
    s = resolve(env)
    assert s.service_name == "checkout"
    assert s.resource_attributes == {"deployment.environment.name": "prod", "team": "ml ops"}
    assert s.traces.endpoint == "http://collector:4318/v1/traces"
    assert s.logs.endpoint == "http://collector:4318/v1/logs"
    assert s.traces.headers == {"authorization": "Bearer abc", "x-tenant": "t1"}
    assert s.metrics.compression == "gzip"
    assert (s.sampler, s.sampler_arg) == ("parentbased_traceidratio", 0.25)
    assert s.metric_export_interval == 5.0
    assert s.shutdown_timeout == 0.5
    assert s.log_level == 20
    assert s.disabled_instrumentations == {"requests", "httpx2"}
    assert s.source["service_name"] == "OTEL_SERVICE_NAME"


def test_service_name_falls_back_to_resource_attributes():
    s = resolve({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs"})
    assert s.service_name == "from-attrs"


def test_signal_specific_settings_beat_shared_ones_and_endpoint_is_used_verbatim():
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://shared:4318",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces-only:9999/custom/path",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://logs:4317",
        "OTEL_EXPORTER_OTLP_HEADERS": "a=1",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "b=2",
        "OTEL_METRICS_EXPORTER": "console",
        "OTEL_LOGS_EXPORTER": "none",
    }
    s = resolve(env)
    assert s.traces.endpoint == "http://traces-only:9999/custom/path"
    assert s.metrics.endpoint == "http://shared:4318/v1/metrics"
    assert (s.logs.protocol, s.logs.endpoint) == ("grpc", "http://logs:4317")
    assert s.traces.headers == {"a": "1"}
    assert s.metrics.headers == {"b": "2"}
    assert (s.traces.exporter, s.metrics.exporter, s.logs.exporter) == ("otlp", "console", "none")


def test_keywords_override_environment():
    env = {
        "OTEL_SERVICE_NAME": "env-name",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://env-traces:4318/v1/traces",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_HEADERS": "a=env",
        "OTEL_TRACES_EXPORTER": "none",
        "LLMTEL_SHUTDOWN_TIMEOUT": "9",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "requests",
    }
    s = resolve(
        env,
        service_name="kw-name",
        endpoint="http://kw:4317",
        protocol="grpc",
        headers={"a": "kw"},
        traces_exporter="otlp",
        shutdown_timeout=1.5,
        disabled_instrumentations=["httpx"],
        resource_attributes={"team": "kw"},
    )
    assert s.service_name == "kw-name"
    # the keyword endpoint replaces even the signal-specific environment endpoint
    assert (s.traces.protocol, s.traces.endpoint) == ("grpc", "http://kw:4317")
    assert s.traces.headers == {"a": "kw"}
    assert s.traces.exporter == "otlp"
    assert s.shutdown_timeout == 1.5
    assert s.disabled_instrumentations == {"httpx"}
    assert s.resource_attributes["team"] == "kw"
    assert s.source["service_name"] == "keyword"


def test_metric_interval_keyword_is_seconds_env_is_milliseconds():
    assert resolve(metric_export_interval=2).metric_export_interval == 2.0
    assert resolve({"OTEL_METRIC_EXPORT_INTERVAL": "2000"}).metric_export_interval == 2.0


def test_grpc_bare_host_port_is_secure_unless_insecure_flag():
    secure = resolve({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"})
    assert secure.traces.insecure is False
    plain = resolve(
        {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
        }
    )
    assert plain.traces.insecure is True
    tls = resolve({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4317"})
    assert tls.traces.insecure is False


def test_sdk_disabled():
    assert resolve({"OTEL_SDK_DISABLED": "true"}).disabled is True


@pytest.mark.parametrize(
    ("env", "kwargs", "names"),
    [
        ({}, {"protocol": "http/json"}, "keyword argument 'protocol'"),
        ({}, {"protocol": "udp"}, "keyword argument 'protocol'"),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "thrift"}, {}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "not a url"}, {}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://host:21"}, {}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://host:port"}, {}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "localhost"}, {}, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
        ({}, {"endpoint": "//nohost"}, "keyword argument 'endpoint'"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, {}, "OTEL_EXPORTER_OTLP_HEADERS"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "=v"}, {}, "OTEL_EXPORTER_OTLP_HEADERS"),
        ({}, {"headers": {"bad name": "v"}}, "keyword argument 'headers'"),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, {}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_LOGS_EXPORTER": "otlp,zipkin"}, {}, "OTEL_LOGS_EXPORTER"),
        ({"OTEL_TRACES_SAMPLER": "sometimes"}, {}, "OTEL_TRACES_SAMPLER"),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, {}, "OTEL_TRACES_SAMPLER_ARG"),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"}, {}, "OTEL_TRACES_SAMPLER_ARG"),
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "brotli"}, {}, "OTEL_EXPORTER_OTLP_COMPRESSION"),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_COMPRESSION": "deflate"},
            {},
            "OTEL_EXPORTER_OTLP_COMPRESSION",
        ),
        ({"OTEL_METRIC_EXPORT_INTERVAL": "soon"}, {}, "OTEL_METRIC_EXPORT_INTERVAL"),
        ({"LLMTEL_SHUTDOWN_TIMEOUT": "-1"}, {}, "LLMTEL_SHUTDOWN_TIMEOUT"),
        ({"LLMTEL_SHUTDOWN_TIMEOUT": "nan"}, {}, "LLMTEL_SHUTDOWN_TIMEOUT"),
        ({}, {"shutdown_timeout": 0}, "keyword argument 'shutdown_timeout'"),
        ({"OTEL_PYTHON_LOG_LEVEL": "loud"}, {}, "OTEL_PYTHON_LOG_LEVEL"),
        ({}, {"insecure": "perhaps"}, "keyword argument 'insecure'"),
        ({"LLMTEL_LOG_REDACTION": "some"}, {}, "LLMTEL_LOG_REDACTION"),
        ({}, {"service_name": "  "}, "service_name"),
    ],
)
def test_bad_values_raise_value_error_naming_the_setting(env, kwargs, names):
    with pytest.raises(ValueError) as err:
        resolve(env, **kwargs)
    assert names in str(err.value)


def test_log_redaction_is_on_unless_turned_off_and_the_keyword_wins():
    assert resolve().log_redaction is True
    assert resolve({"LLMTEL_LOG_REDACTION": "false"}).log_redaction is False
    off = resolve({"LLMTEL_LOG_REDACTION": "false"}, log_redaction=True)
    assert off.log_redaction is True and off.source["log_redaction"] == "keyword"


def test_key_value_list_parsing():
    assert parse_key_value_list(" a=1 , b = two%2Cthree ,,", "X") == {"a": "1", "b": "two,three"}
    assert parse_key_value_list("", "X") == {}
    with pytest.raises(ValueError, match="X: entry 2 has no '='"):
        parse_key_value_list("a=1,oops", "X")


def test_content_fields_come_from_the_environment_unless_a_keyword_says_otherwise():
    from llmtel.config import resolve_genai_settings
    from llmtel.genai.content import ALL_CONTENT_FIELDS

    assert resolve_genai_settings(environ={}).content_fields == ALL_CONTENT_FIELDS
    env = {"LLMTEL_CONTENT_FIELDS": "output"}
    assert resolve_genai_settings(environ=env).content_fields == {"output"}
    assert resolve_genai_settings(environ=env, content_fields=["input", "output"]).content_fields == {"input", "output"}
    with pytest.raises(ValueError, match="LLMTEL_CONTENT_FIELDS: 'outputs' is not all, none or a list of"):
        resolve_genai_settings(environ={"LLMTEL_CONTENT_FIELDS": "outputs"})


def test_the_semconv_opt_in_is_read_from_the_shared_list_and_a_keyword_wins(caplog):
    from llmtel.config import resolve_genai_settings

    assert resolve_genai_settings(environ={}).latest_metrics is False
    shared = {"OTEL_SEMCONV_STABILITY_OPT_IN": " http/dup , gen_ai_latest_experimental,database"}
    assert resolve_genai_settings(environ=shared).latest_metrics is True
    assert resolve_genai_settings(environ={"OTEL_SEMCONV_STABILITY_OPT_IN": "http"}).latest_metrics is False
    assert resolve_genai_settings(environ=shared, semconv_opt_in="").latest_metrics is False
    assert resolve_genai_settings(environ={}, semconv_opt_in=["gen_ai_latest_experimental"]).latest_metrics is True
    with pytest.raises(ValueError, match=r"keyword argument 'semconv_opt_in': unknown GenAI opt-in 'gen_ai_latest'"):
        resolve_genai_settings(environ={}, semconv_opt_in="gen_ai_latest")
    # from the environment a typo is reported once, not fatal: other libraries read the variable too
    typo = {"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_lastest_experimental"}
    with caplog.at_level(logging.WARNING, logger="llmtel"):
        assert resolve_genai_settings(environ=typo).latest_metrics is False
        assert resolve_genai_settings(environ=typo).latest_metrics is False
    warnings = [r.getMessage() for r in caplog.records if "unknown GenAI opt-in" in r.getMessage()]
    assert warnings == ["llmtel: OTEL_SEMCONV_STABILITY_OPT_IN: unknown GenAI opt-in 'gen_ai_lastest_experimental'; "
                        "the one known is 'gen_ai_latest_experimental' (ignored)"]


SECRET = "sk-live-9f8e7d6c5b4a39281706"


@pytest.mark.parametrize(
    ("headers", "entry"),
    [
        (f"Authorization: Bearer {SECRET}", "entry 1 has no '='"),
        (f"authorization=Bearer {SECRET},x-tenant:acme", "entry 2 has no '='"),
        (f"x-tenant=acme,,=Bearer {SECRET}", "entry 3 has an empty key"),
        (f"Authorization: Bearer {SECRET}=x", "a header name holds a space"),
    ],
)
def test_a_malformed_header_is_named_by_its_position_never_by_its_text(headers, entry):
    with pytest.raises(ValueError) as err:
        resolve({"OTEL_EXPORTER_OTLP_HEADERS": headers})
    message = str(err.value)
    assert message.startswith("OTEL_EXPORTER_OTLP_HEADERS: ")
    assert entry in message
    assert SECRET not in message and "Bearer" not in message


@pytest.mark.parametrize(("value", "disabled"), [("true", True), ("TRUE", True), (" True ", True), ("false", False)])
def test_only_true_disables_the_sdk(value, disabled, caplog):
    with caplog.at_level(logging.WARNING, logger="llmtel"):
        assert resolve({"OTEL_SDK_DISABLED": value}).disabled is disabled
    assert "OTEL_SDK_DISABLED" not in caplog.text


@pytest.mark.parametrize("value", ["1", "yes", "on", "maybe-later"])
def test_other_sdk_disabled_values_mean_false_with_a_warning_as_the_specification_says(value, caplog):
    with caplog.at_level(logging.WARNING, logger="llmtel"):
        assert resolve({"OTEL_SDK_DISABLED": value}).disabled is False
    assert f"OTEL_SDK_DISABLED: {value!r} is not true or false; read as false" in caplog.text


def test_the_insecure_variable_is_read_as_the_specification_says_and_the_keyword_strictly(caplog):
    env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}
    with caplog.at_level(logging.WARNING, logger="llmtel"):
        assert resolve({**env, "OTEL_EXPORTER_OTLP_INSECURE": "TRUE"}).traces.insecure is True
        assert resolve({**env, "OTEL_EXPORTER_OTLP_INSECURE": "perhaps"}).traces.insecure is False
    assert "OTEL_EXPORTER_OTLP_INSECURE: 'perhaps' is not true or false; read as false" in caplog.text
    assert resolve(env, insecure=True).traces.insecure is True


def test_malformed_resource_attribute_entries_are_dropped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="llmtel"):
        s = resolve({"OTEL_RESOURCE_ATTRIBUTES": "a=b,garbage,=orphan,team=ml%20ops"})
    assert s.resource_attributes == {"a": "b", "team": "ml ops"}
    assert "OTEL_RESOURCE_ATTRIBUTES: entry 2 has no '='" in caplog.text
    assert "OTEL_RESOURCE_ATTRIBUTES: entry 3 has an empty key" in caplog.text


def test_several_exporters_per_signal_are_kept_in_order_without_repeats_or_none():
    s = resolve(
        {
            "OTEL_TRACES_EXPORTER": "otlp, Console,otlp",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none,console",
        }
    )
    assert (s.traces.exporters, s.traces.exporter) == (("otlp", "console"), "otlp")
    assert (s.metrics.exporters, s.metrics.exporter) == ((), "none")
    assert (s.logs.exporters, s.logs.exporter) == (("console",), "console")
    assert resolve(traces_exporter="console").traces.exporters == ("console",)


def test_http_json_from_the_environment_falls_back_to_http_protobuf_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="llmtel"):
        s = resolve({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert s.traces.protocol == "http/protobuf"
    assert s.traces.endpoint == "http://c:4318/v1/traces"
    assert "OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' is not implemented by the Python exporters" in caplog.text


@pytest.mark.parametrize("value", ["1e400", "1e400MiB", "inf", "nan"])
def test_a_byte_size_too_large_or_not_finite_is_a_value_error_naming_the_setting(value):
    from llmtel.config import byte_size, resolve_spool_settings

    with pytest.raises(ValueError, match="LLMTEL_SPOOL_MAX_BYTES: .* is not a size in bytes"):
        resolve_spool_settings(service_name="s", environ={"LLMTEL_SPOOL_MAX_BYTES": value})
    with pytest.raises(ValueError, match="LLMTEL_EXPORT_MAX_REQUEST_BYTES"):
        byte_size(value, "LLMTEL_EXPORT_MAX_REQUEST_BYTES")


@pytest.mark.parametrize("endpoint", ["ftp://user:s3cret@collector:4318/?token=t0k3n",
                                      "http://user:s3cret@collector:port/?token=t0k3n"])
def test_an_unusable_endpoint_is_named_without_its_credentials(endpoint):
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_ENDPOINT") as raised:
        resolve({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
    assert "collector" in str(raised.value)
    assert "s3cret" not in str(raised.value) and "t0k3n" not in str(raised.value)
