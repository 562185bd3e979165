"""What log text passes before it leaves the process: the handler, the structlog shipper and JsonFormatter mask
credentials always and personal data unless it is turned off, with the app's own redactor when it has one."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from llmtel import pipeline
from llmtel.logs.redaction import log_redactor, reset_log_redaction, use_log_redaction
from llmtel.logs.structlog_support import OTLPShipper
from llmtel.redaction import default_redactor

EMAIL = "alice.liddell@example.org"
KEY = "sk-abcdefghijklmnopqrstuvwxyz0123"


@pytest.fixture(autouse=True)
def _default_redaction():
    reset_log_redaction()
    yield
    reset_log_redaction()


def shipped_by_body(records) -> dict:
    return {record.body: record for record in records()}


def log_everything(logger: logging.Logger) -> None:
    logger.info("receipt for %s, key %s", EMAIL, KEY)
    logger.info("called back", extra={"phone": "Alice at +44 20 7946 0958", "api_key": "plain-value",
                                      "cards": ["4111 1111 1111 1111", "none"], "tokens": 12})
    try:
        raise ValueError(f"no account for {EMAIL}")
    except ValueError:
        logger.exception("lookup failed")


def test_by_default_personal_data_and_credentials_are_masked_in_everything_shipped(exported):
    logger, _, records = exported
    with pipeline.run("nightly", user_id=EMAIL):  # the app's chosen id: kept, as on its spans
        log_everything(logger)
    logs = shipped_by_body(records)
    assert "receipt for [REDACTED:email], key [REDACTED:api_key]" in logs
    called = dict(logs["called back"].attributes)
    assert called["phone"] == "Alice at [REDACTED:phone]"
    assert called["api_key"] == "[REDACTED]"
    assert list(called["cards"]) == ["[REDACTED:card_number]", "none"]
    assert called["tokens"] == 12
    assert called["user.id"] == EMAIL
    failed = dict(logs["lookup failed"].attributes)
    assert failed["exception.message"] == "no account for [REDACTED:email]"
    assert EMAIL not in failed["exception.stacktrace"] and "[REDACTED:email]" in failed["exception.stacktrace"]


def test_turned_off_only_credentials_are_masked(exported):
    logger, _, records = exported
    use_log_redaction(False)
    log_everything(logger)
    logs = shipped_by_body(records)
    assert "receipt for alice.liddell@example.org, key [REDACTED:api_key]" in logs
    called = dict(logs["called back"].attributes)
    assert called["phone"] == "Alice at +44 20 7946 0958" and called["api_key"] == "[REDACTED]"
    assert dict(logs["lookup failed"].attributes)["exception.message"] == f"no account for {EMAIL}"


def test_the_apps_redactor_runs_after_the_secrets_and_a_failing_one_hides_the_text(exported):
    logger, _, records = exported
    use_log_redaction(True, lambda text: text.replace("Alice", "[name]"))
    log_everything(logger)
    logs = shipped_by_body(records)
    assert f"receipt for {EMAIL}, key [REDACTED:api_key]" in logs  # its rules replace the default ones
    assert dict(logs["called back"].attributes)["phone"] == "[name] at +44 20 7946 0958"

    def broken(text):
        raise RuntimeError("no")

    use_log_redaction(True, broken)
    logger.info("mail %s", EMAIL)
    assert "[REDACTED:redactor_failed]" in shipped_by_body(records)


def test_none_as_the_redactor_means_the_default_one_and_reset_restores_it():
    use_log_redaction(True, None)
    assert log_redactor() is default_redactor
    use_log_redaction(False)
    assert log_redactor()(EMAIL) == EMAIL
    reset_log_redaction()
    assert log_redactor() is default_redactor


def test_structlog_events_are_masked_the_same_way(exported):
    structlog = pytest.importorskip("structlog")
    _, handler, records = exported
    structlog.configure(processors=[OTLPShipper(handler._provider), structlog.processors.KeyValueRenderer()])
    try:
        log = structlog.get_logger("tests.structlog.redaction")
        log.info(f"receipt for {EMAIL}", card="4111 1111 1111 1111", password="hunter2", user_id=EMAIL)
        try:
            raise ValueError(f"no account for {EMAIL}")
        except ValueError:
            log.error("lookup failed", exc_info=True)
    finally:
        structlog.reset_defaults()
    logs = shipped_by_body(records)
    attributes = dict(logs["receipt for [REDACTED:email]"].attributes)
    assert attributes["card"] == "[REDACTED:card_number]" and attributes["password"] == "[REDACTED]"
    assert attributes["user.id"] == EMAIL  # the pipeline's id, under its attribute's name
    assert dict(logs["lookup failed"].attributes)["exception.message"] == "no account for [REDACTED:email]"


def test_json_lines_are_masked_the_same_way(json_lines):
    logger, lines = json_lines
    logger.warning(f"mail {EMAIL}", extra={"order": {"card": "4111 1111 1111 1111", "client_secret": "s3",
                                                     "items": 2}})
    try:
        raise ValueError(f"no account for {EMAIL}")
    except ValueError:
        logger.exception("lookup failed")
    first, second = lines()
    assert first["message"] == "mail [REDACTED:email]"
    assert first["event"] == "mail_redacted_email"  # named from the masked message, not the address
    assert first["order"] == {"card": "[REDACTED:card_number]", "client_secret": "[REDACTED]", "items": 2}
    assert "[REDACTED:email]" in second["exception"] and EMAIL not in second["exception"]


# --- what the privacy audit of the log paths found ------------------------------------------------------------

SECRET = "hunter2-correct-horse"  # no recognisable shape: only its name (``password``, ``token``) marks it


@dataclass
class Customer:
    email: str
    password: str


def shipped_text(record) -> str:
    return repr((record.body, dict(record.attributes)))


def test_values_under_a_credential_name_deep_in_a_payload_are_masked_whatever_their_type(exported):
    """Inside an ``extra=`` dict or a structlog value, a list, tuple or bytes under a credential's name was shipped:
    the text the structure became no longer told where ``{'password': ['...']}`` ends."""
    structlog = pytest.importorskip("structlog")
    logger, handler, records = exported
    payload = {"db": {"password": [SECRET]}, "auth": {"scheme": "basic", "token": (SECRET, "second")},
               "hooks": [{"client_secret": SECRET.encode()}], "mail": EMAIL}
    logger.info("configured", extra={"cfg": payload})
    structlog.configure(processors=[OTLPShipper(handler._provider), structlog.processors.KeyValueRenderer()])
    try:
        structlog.get_logger("tests.structlog.nested").info("configured", cfg=payload)
    finally:
        structlog.reset_defaults()
    stdlib, structured = records()
    for record in (stdlib, structured):
        text = shipped_text(record)
        assert SECRET not in text and EMAIL not in text
        assert "[REDACTED]" in text and "[REDACTED:email]" in text
    assert stdlib.attributes["cfg"].startswith("{'db': {'password': '[REDACTED]'}")  # still the payload's repr
    assert '"password": "[REDACTED]"' in structured.attributes["cfg"]  # still its JSON


def test_json_lines_mask_what_objects_in_the_payload_show(json_lines):
    """``JsonFormatter`` wrote an object, a set or a date of the payload as its ``repr`` unmasked (the handler masked
    the same repr)."""
    logger, lines = json_lines
    logger.info("signed up", extra={"customer": Customer(EMAIL, SECRET), "seen": frozenset({EMAIL}),
                                    "nested": {"who": [Customer(EMAIL, SECRET)]}})
    (line,) = lines()
    assert line["customer"] == "Customer(email='[REDACTED:email]', password='[REDACTED]')"
    assert line["seen"] == "frozenset({'[REDACTED:email]'})"
    assert line["nested"] == {"who": ["Customer(email='[REDACTED:email]', password='[REDACTED]')"]}


def test_logger_and_thread_names_are_masked_as_log_text(json_lines):
    """Loggers and threads named after tenants or requests shipped their names as they were: as the ``logger.name``
    and ``thread.name`` attributes and as the instrumentation scope, and in ``JsonFormatter``'s ``logger``."""
    import threading

    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    from llmtel.logs import OTelLogHandler

    structlog = pytest.importorskip("structlog")
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = OTelLogHandler(provider)
    _, lines = json_lines
    json_handler = logging.getLogger("tests.logs.json").handlers[0]
    tenant = logging.getLogger(f"tests.logs.tenant[{EMAIL}]")
    for each in (handler, json_handler):
        tenant.addHandler(each)
    tenant.propagate = False
    structlog.configure(processors=[OTLPShipper(provider), structlog.processors.KeyValueRenderer()],
                        logger_factory=structlog.PrintLoggerFactory(file=__import__("io").StringIO()))
    try:
        worker = threading.Thread(target=tenant.warning, args=("quota reached",), name=f"worker {EMAIL} {KEY}")
        worker.start()
        worker.join()
        structlog.get_logger().info("quota reached", logger=f"tenant {KEY}")
    finally:
        structlog.reset_defaults()
        for each in (handler, json_handler):
            tenant.removeHandler(each)
        tenant.propagate = True
    stdlib, structured = exporter.get_finished_logs()
    assert stdlib.instrumentation_scope.name == "tests.logs.tenant[[REDACTED:email]]"
    assert stdlib.log_record.attributes["logger.name"] == "tests.logs.tenant[[REDACTED:email]]"
    assert stdlib.log_record.attributes["thread.name"] == "worker [REDACTED:email] [REDACTED:api_key]"
    assert structured.instrumentation_scope.name == "tenant [REDACTED:api_key]"
    assert structured.log_record.attributes["logger.name"] == "tenant [REDACTED:api_key]"
    assert lines()[0]["logger"] == "tests.logs.tenant[[REDACTED:email]]"
    provider.shutdown()


def test_pipeline_ids_have_their_credentials_masked_and_are_otherwise_kept(exported, json_lines):
    """A run id, session or user received in a caller's baggage (or set by the app) reached the collector with a
    credential in it from stdlib records and JSON lines (the structlog shipper masked it). Personal data in them
    stays, as README documents: the app chooses its ids."""
    import llmtel

    logger, handler, records = exported
    _, lines = json_lines
    json_handler = logging.getLogger("tests.logs.json").handlers[0]
    logger.addHandler(json_handler)
    try:
        with llmtel.continue_run({"baggage": f"llmtel.run.id={KEY},user.id={EMAIL}"}, "handle"):
            logger.info("handling")
    finally:
        logger.removeHandler(json_handler)
    (record,) = records()
    assert record.attributes["llmtel.run.id"] == "[REDACTED:api_key]"
    assert record.attributes["user.id"] == EMAIL
    (line,) = lines()
    assert (line["run_id"], line["user_id"]) == ("[REDACTED:api_key]", EMAIL)
