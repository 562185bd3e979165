"""The durable export path against the real OTLP receiver and its injected faults, over HTTP and gRPC.

Every fault test checks the count: what the receiver got equals what was emitted, minus exactly the drops
the pipeline counted; span ids are unique (nothing sent twice). "The application never waits" is checked
structurally: the sender thread is seen stuck on a black-holed collector while the application keeps emitting.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader

from llmtel import semconv
from llmtel.config import resolve_settings
from llmtel.export.durable import Backoff, BoundedQueue, batch_tuning
from llmtel.receiver import Fault
from tests.export.conftest import PROTOCOLS, emit_spans, received_ids


def eventually(predicate, timeout: float = 20.0) -> bool:
    """Poll ``predicate`` (pipeline counters have no event to wait on) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def assert_all_arrived(receiver, rig_stats, emitted: int, name: str = "work") -> None:
    assert receiver.store.wait_for(
        lambda s: len([x for x in s.spans() if x.name == name]) >= emitted - rig_stats().dropped
    )
    assert eventually(lambda: rig_stats().delivered + rig_stats().dropped == emitted)
    ids = received_ids(receiver, name)
    assert len(ids) == len(set(ids)), "a span arrived twice"
    assert len(ids) == emitted - rig_stats().dropped


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_with_the_collector_up_everything_is_exported_directly(otlp_receiver, rig, protocol):
    r = rig(otlp_receiver, protocol)
    emit_spans(r, 1000)
    assert r.tracer_provider.force_flush(10_000) is True
    assert_all_arrived(otlp_receiver, r.stats, 1000)
    stats = r.stats()
    assert (stats.exported, stats.spooled, stats.dropped) == (1000, 0, 0)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_collector_down_at_start_then_up(down_receiver, rig, protocol):
    r = rig(down_receiver, protocol)
    emit_spans(r, 1000)
    assert r.tracer_provider.force_flush(5_000) is False  # could not deliver, and says so
    assert eventually(lambda: r.stats().spooled == 1000)
    down_receiver.start()
    assert_all_arrived(down_receiver, r.stats, 1000)
    stats = r.stats()
    assert stats.replayed == 1000 and stats.dropped == 0 and stats.spool_items == 0
    assert r.tracer_provider.force_flush(5_000) is True


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_collector_goes_down_mid_run_and_comes_back(otlp_receiver, rig, protocol):
    r = rig(otlp_receiver, protocol)
    emit_spans(r, 500)
    assert otlp_receiver.store.wait_for_spans(500)
    otlp_receiver.stop()
    emit_spans(r, 700)
    assert eventually(lambda: r.stats().spool_items == 700)
    otlp_receiver.start()
    assert_all_arrived(otlp_receiver, r.stats, 1200)
    assert r.stats().spool_items == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("fault", [Fault.status(503), Fault.status(429, retry_after=0.05)], ids=["503", "429"])
def test_retryable_statuses_delay_delivery_but_lose_nothing(otlp_receiver, rig, protocol, fault):
    r = rig(otlp_receiver, protocol)
    otlp_receiver.set_fault(fault)
    emit_spans(r, 800)
    assert eventually(lambda: r.stats().spooled == 800)
    assert otlp_receiver.rejected_count >= 1
    otlp_receiver.clear_fault()
    assert_all_arrived(otlp_receiver, r.stats, 800)
    assert r.stats().dropped == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_500_is_permanent_its_batches_are_dropped_and_counted(otlp_receiver, rig, protocol, caplog):
    r = rig(otlp_receiver, protocol)
    otlp_receiver.set_fault(Fault.status(500))
    with caplog.at_level(logging.WARNING, logger="llmtel.export"):
        emit_spans(r, 600)
        assert eventually(lambda: r.stats().dropped == 600)
    assert r.stats().dropped_by_reason == {"rejected": 600}
    (logged,) = [rec.getMessage() for rec in caplog.records if "rejected" in rec.getMessage()]  # logged once
    assert "injected" in logged and logged.isprintable()  # the collector's words, decoded from its Status reply
    if protocol != "grpc":
        assert "HTTP 500: llmtel receiver: injected fault" in logged
    otlp_receiver.clear_fault()
    emit_spans(r, 400)
    assert_all_arrived(otlp_receiver, r.stats, 1000)  # 1000 emitted - 600 counted drops


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_black_holed_collector_never_holds_up_the_application(otlp_receiver, rig, spool_dir, protocol):
    otlp_receiver.set_fault(Fault.blackhole())
    r = rig(otlp_receiver, protocol, attempt_timeout=60.0)
    pipeline = r.export.pipelines["traces"]
    emit_spans(r, 100)
    assert eventually(lambda: pipeline._inflight is not None)  # the sender is stuck waiting for an answer
    stuck_on = pipeline._inflight

    emit_spans(r, 3000)  # the application goes on while it is stuck...
    # ...and its spans go to disk meanwhile, beyond a few batches held in memory for the sender
    others = 3100 - stuck_on.items  # the first 100 may have left in more than one batch
    assert eventually(lambda: r.stats().spooled + r.stats().queued == others)
    # the spool writer drains the queue on its own thread: on a loaded machine it may still be at it
    assert eventually(lambda: r.stats().spooled >= others - 4 * 512)
    assert pipeline._inflight is stuck_on  # still the same unanswered request

    assert r.shutdown(timeout=0.5) is True  # bounded, and nothing lost: the stuck batch was spooled too
    assert r.stats().spool_items == 3100

    otlp_receiver.clear_fault()
    successor = rig(otlp_receiver, protocol, directory=spool_dir)  # the next process on the same spool
    assert_all_arrived(otlp_receiver, successor.stats, 3100)
    assert successor.stats().replayed == 3100


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_shutdown_with_the_collector_down_is_bounded_and_the_next_process_delivers(
    down_receiver, rig, spool_dir, protocol
):
    r = rig(down_receiver, protocol)
    emit_spans(r, 5000)
    start = time.monotonic()
    assert r.shutdown(timeout=1.0) is True
    assert time.monotonic() - start < 1.0 + 0.5
    assert r.stats().spool_items == 5000 and r.stats().dropped == 0

    down_receiver.start()
    successor = rig(down_receiver, protocol, directory=spool_dir)
    assert_all_arrived(down_receiver, successor.stats, 5000)


def test_when_the_disk_cap_is_reached_the_oldest_go_and_exactly_those_are_missing(down_receiver, rig):
    r = rig(down_receiver, max_bytes=256 * 1024)  # traces get half: 128 KiB, about 2,000 small spans
    emit_spans(r, 20_000)
    assert eventually(lambda: r.stats().spooled == 20_000)
    dropped = r.stats().dropped
    assert r.stats().dropped_by_reason == {"spool_full": dropped}
    assert 0 < dropped < 20_000
    assert r.stats().spool_bytes <= 128 * 1024
    down_receiver.start()
    assert_all_arrived(down_receiver, r.stats, 20_000)
    newest = max(s.attributes["i"] for s in down_receiver.store.spans())
    assert newest == 19_999  # the newest were kept, the oldest evicted


def test_twenty_thousand_spans_from_four_threads_arrive_without_loss(otlp_receiver, rig):
    r = rig(otlp_receiver)
    barrier = threading.Barrier(4)

    def produce() -> None:
        barrier.wait()
        emit_spans(r, 5000)

    threads = [threading.Thread(target=produce) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_all_arrived(otlp_receiver, r.stats, 20_000)
    assert r.stats().dropped == 0


def test_threads_and_asyncio_tasks_emitting_at_once_through_an_outage(down_receiver, rig):
    r = rig(down_receiver)
    tracer = r.tracer

    async def task(k: int) -> None:
        for i in range(100):
            with tracer.start_as_current_span("work", attributes={"task": k, "i": i}):
                await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(task(k) for k in range(20)))

    threads = [threading.Thread(target=emit_spans, args=(r, 1000)) for _ in range(2)]
    for thread in threads:
        thread.start()
    asyncio.run(main())
    for thread in threads:
        thread.join()
    down_receiver.start()
    assert_all_arrived(down_receiver, r.stats, 4000)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_log_records_are_spooled_and_replayed(down_receiver, rig, protocol):
    r = rig(down_receiver, protocol, logs=True)
    logger = r.logger_provider.get_logger("test")
    for i in range(300):
        logger.emit(body=f"line {i}")
    logs = r.export.pipelines["logs"]
    assert eventually(lambda: logs.stats().spooled == 300)
    down_receiver.start()
    assert down_receiver.store.wait_for_logs(300)
    bodies = [rec.body for rec in down_receiver.store.logs()]
    assert sorted(bodies) == sorted(f"line {i}" for i in range(300))
    assert eventually(lambda: logs.stats().replayed == 300)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_metrics_are_spooled_and_replayed(down_receiver, rig, protocol):
    r = rig(down_receiver, protocol)
    endpoint = down_receiver.grpc_endpoint if protocol == "grpc" else down_receiver.http_endpoint
    settings = resolve_settings(environ={}, endpoint=endpoint, protocol=protocol)
    reader = PeriodicExportingMetricReader(r.export.metric_exporter(settings.metrics), export_interval_millis=10**8)
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    provider.get_meter("test").create_counter("app.items").add(5)
    provider.force_flush(5_000)  # (the SDK reports True whatever its exporter says)
    assert eventually(lambda: r.export.pipelines["metrics"].stats().spooled == 1)  # one point, on disk
    down_receiver.start()
    assert down_receiver.store.wait_for_metric("app.items")
    points = [p for p in down_receiver.store.metric_points() if p.name == "app.items"]
    assert [p.value for p in points] == [5]
    provider.shutdown()


def test_export_counters_are_published_as_metrics(otlp_receiver, rig):
    r = rig(otlp_receiver)
    reader = InMemoryMetricReader()
    r.export.observe(MeterProvider(metric_readers=[reader], shutdown_on_exit=False))
    emit_spans(r, 50)
    assert eventually(lambda: r.stats().exported == 50)
    values = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    values[(metric.name, point.attributes.get(semconv.LLMTEL_EXPORT_SIGNAL))] = point.value
    assert values[(semconv.METRIC_EXPORT_EXPORTED, "traces")] == 50
    assert values[(semconv.METRIC_EXPORT_SPOOLED, "traces")] == 0
    assert values[(semconv.METRIC_EXPORT_REPLAYED, "traces")] == 0


def test_spooling_and_draining_are_each_announced_once(down_receiver, rig, caplog):
    r = rig(down_receiver)
    with caplog.at_level(logging.WARNING, logger="llmtel.export"):
        for _ in range(5):  # several failing batches
            emit_spans(r, 600)
        assert eventually(lambda: r.stats().spooled == 3000)
        down_receiver.start()
        assert eventually(lambda: r.stats().replayed == 3000)
    messages = [rec.getMessage() for rec in caplog.records if rec.name == "llmtel.export"]
    down = [m for m in messages if "cannot be delivered" in m]
    assert len(down) == 1 and "keeping them in the spool" in down[0]
    assert "right now (ConnectionError: Connection refused);" in down[0]  # the failure's reason is named
    # the batches may also outrun the sender before the first refusal; that is announced apart, once at most
    assert len([m for m in messages if "arrive faster" in m]) <= 1
    assert len([m for m in messages if "spool is drained" in m]) == 1
    assert all(rec.levelno == logging.WARNING for rec in caplog.records if rec.name == "llmtel.export")


def test_without_a_usable_spool_a_down_collector_is_announced_as_dropping(down_receiver, rig, tmp_path, caplog):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the spool directory should be")
    with caplog.at_level(logging.WARNING, logger="llmtel.export"):
        r = rig(down_receiver, directory=blocker)
        emit_spans(r, 10)
        assert eventually(lambda: r.stats().dropped_by_reason.get("no_spool") == 10)
    messages = [rec.getMessage() for rec in caplog.records if rec.name == "llmtel.export"]
    assert any("cannot use" in m and "will be dropped" in m for m in messages)
    down = [m for m in messages if "cannot be delivered" in m]
    assert len(down) == 1 and "dropping them until it answers" in down[0]


def test_a_full_queue_drops_new_items_and_counts_them():
    drops = []
    queue = BoundedQueue(maxsize=3, wake_at=2, on_full=lambda: drops.append(1))
    for i in range(5):
        queue.offer(i)
    assert len(queue) == 3 and len(drops) == 2
    assert queue.wake.is_set()
    assert queue.take(10) == [0, 1, 2]


def test_backoff_grows_with_jitter_up_to_its_cap_and_honours_retry_after():
    backoff = Backoff(initial=1.0, maximum=8.0, rng=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    low = Backoff(initial=1.0, maximum=8.0, rng=lambda: 0.0)
    assert [low.next_delay() for _ in range(3)] == [0.5, 1.0, 2.0]
    assert low.next_delay(retry_after=7.0) == 7.0
    assert low.next_delay(retry_after=100.0) == 8.0
    low.reset()
    assert low.next_delay() == 0.5


def test_batch_settings_come_from_the_sdk_variables_and_are_validated():
    assert batch_tuning("traces", {}).schedule_delay == 5.0
    assert batch_tuning("logs", {}).schedule_delay == 1.0
    tuning = batch_tuning("traces", {"OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10"})
    assert (tuning.max_queue_size, tuning.max_batch_size) == (100, 10)
    with pytest.raises(ValueError, match="OTEL_BLRP_SCHEDULE_DELAY"):
        batch_tuning("logs", {"OTEL_BLRP_SCHEDULE_DELAY": "soon"})
    with pytest.raises(ValueError, match="OTEL_BSP_MAX_EXPORT_BATCH_SIZE"):
        batch_tuning("traces", {"OTEL_BSP_MAX_QUEUE_SIZE": "10", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "20"})


def test_a_forked_child_sends_its_own_spans_and_never_the_parents(otlp_receiver, rig):
    import multiprocessing

    r = rig(otlp_receiver)
    otlp_receiver.set_fault(Fault.status(503))
    emit_spans(r, 300, name="parent")  # spooled and queued in the parent when the child is forked
    assert eventually(lambda: r.stats().spooled == 300)

    def child() -> None:
        emit_spans(r, 200, name="child")
        r.shutdown(timeout=5.0)

    otlp_receiver.clear_fault()
    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(30)
    assert process.exitcode == 0
    assert otlp_receiver.store.wait_for(lambda s: len(received_ids(otlp_receiver, "child")) >= 200)
    assert_all_arrived(otlp_receiver, r.stats, 300, name="parent")
    assert len(received_ids(otlp_receiver, "child")) == 200
