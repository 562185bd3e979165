"""The on-disk spool: framing, order, acknowledgement, damage, the size cap, and ownership across processes."""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

import pytest

from llmtel.export.spool import HEADER, Spool, frame, scan_records


class Drops:
    def __init__(self) -> None:
        self.by_reason: Counter[str] = Counter()

    def __call__(self, items: int, reason: str) -> None:
        self.by_reason[reason] += items


def make(directory: Path, max_bytes: int = 1 << 26, drops: Drops | None = None, **kw) -> Spool:
    return Spool(directory, signal="traces", max_bytes=max_bytes, on_drop=drops or Drops(), **kw)


def drain(spool: Spool) -> list[bytes]:
    out = []
    while (record := spool.peek()) is not None:
        out.append(record.payload)
        spool.ack(record)
    return out


def crash(spool: Spool) -> None:
    """What a killed process leaves behind: files as written, its lock released, nothing cleaned up."""
    os.close(spool._lock_fd)
    spool._lock_fd = None
    spool._closed = True


def test_records_come_back_oldest_first_and_the_files_go_once_delivered(tmp_path):
    spool = make(tmp_path)
    for i in range(5):
        assert spool.append(i + 1, f"request {i}".encode())
    assert spool.items == 15
    assert drain(spool) == [f"request {i}".encode() for i in range(5)]
    assert spool.items == 0 and spool.bytes == 0
    assert not list(tmp_path.glob("*.seg"))
    spool.close()
    assert list(tmp_path.iterdir()) == []  # an empty spool leaves nothing behind


def test_a_failed_send_keeps_the_record_at_the_head(tmp_path):
    spool = make(tmp_path)
    spool.append(1, b"a")
    spool.append(1, b"b")
    first = spool.peek()
    spool.release(first)
    again = spool.peek()
    assert again.payload == b"a"
    spool.ack(again)
    assert spool.peek().payload == b"b"


def test_rejected_records_are_discarded_and_counted(tmp_path):
    drops = Drops()
    spool = make(tmp_path, drops=drops)
    spool.append(7, b"bad")
    spool.discard(spool.peek(), "rejected")
    assert drops.by_reason == {"rejected": 7}
    assert spool.peek() is None


def test_a_new_process_resumes_after_the_last_acknowledged_record(tmp_path):
    first = make(tmp_path)
    for i in range(5):
        first.append(1, bytes([i]))
    for _ in range(2):
        first.ack(first.peek())
    crash(first)

    second = make(tmp_path)
    assert second.adopt_orphans() == 3
    assert drain(second) == [bytes([2]), bytes([3]), bytes([4])]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{second.owner}.lock"]


def test_a_torn_last_record_is_skipped_and_the_rest_read(tmp_path):
    first = make(tmp_path)
    for i in range(3):
        first.append(10, b"x" * 100 + bytes([i]))
    crash(first)
    (segment,) = tmp_path.glob("*.seg")
    with open(segment, "r+b") as file:
        file.truncate(segment.stat().st_size - 40)  # the kill came in the middle of writing the third

    drops = Drops()
    second = make(tmp_path, drops=drops)
    assert second.adopt_orphans() == 20
    assert drain(second) == [b"x" * 100 + bytes([0]), b"x" * 100 + bytes([1])]


def test_a_damaged_record_in_the_middle_is_skipped_and_reading_resumes_after_it(tmp_path):
    first = make(tmp_path)
    for i in range(3):
        first.append(1, bytes([i]) * 50)
    crash(first)
    (segment,) = tmp_path.glob("*.seg")
    data = bytearray(segment.read_bytes())
    record = HEADER.size + 50
    data[record + HEADER.size + 10] ^= 0xFF  # flip a payload byte of the second record
    segment.write_bytes(bytes(data))

    second = make(tmp_path)
    second.adopt_orphans()
    assert drain(second) == [bytes([0]) * 50, bytes([2]) * 50]


def test_scan_records_resynchronises_on_the_next_valid_header():
    good = [frame(1, i, bytes([i]) * 8) for i in range(1, 4)]
    data = good[0] + b"garbage LT garbage" + good[1] + good[2][:-3]
    refs, damaged = scan_records(data)
    assert [r.items for r in refs] == [1, 2]
    assert damaged == 2  # the garbage, and the torn tail


def test_the_cap_evicts_the_oldest_and_counts_exactly_what_it_dropped(tmp_path):
    drops = Drops()
    spool = make(tmp_path, max_bytes=64 * 1024, drops=drops, segment_bytes=4096)
    payload = b"p" * 1000
    appended = 0
    for _ in range(200):
        spool.append(3, payload)
        appended += 3
    assert spool.bytes <= 64 * 1024
    assert drops.by_reason["spool_full"] > 0
    kept = drain(spool)
    assert len(kept) * 3 + drops.by_reason["spool_full"] == appended
    assert kept == [payload] * len(kept)


def test_a_record_larger_than_the_cap_is_dropped_not_written(tmp_path):
    drops = Drops()
    spool = make(tmp_path, max_bytes=64 * 1024, drops=drops)
    assert not spool.append(5, b"x" * (65 * 1024))
    assert drops.by_reason == {"spool_full": 5}
    assert spool.items == 0


def test_evicting_the_segment_being_sent_counts_the_in_flight_record_only_if_its_send_fails(tmp_path):
    drops = Drops()
    spool = make(tmp_path, max_bytes=64 * 1024, drops=drops, segment_bytes=16 * 1024)
    for _ in range(10):
        spool.append(1, b"a" * 1000)
    inflight = spool.peek()
    for _ in range(80):  # pushes the in-flight segment out
        spool.append(1, b"b" * 1000)
    evicted_others = drops.by_reason["spool_full"]
    assert evicted_others >= 9
    spool.release(inflight)  # the send failed: now it is lost too
    assert drops.by_reason["spool_full"] == evicted_others + 1
    assert len(drain(spool)) + drops.by_reason["spool_full"] == 90


def test_a_live_process_keeps_its_segments(tmp_path):
    alive = make(tmp_path)
    alive.append(1, b"mine")
    alive.peek()  # seals the segment: it is on disk like any other
    other = make(tmp_path)
    assert other.adopt_orphans() == 0
    assert other.peek() is None
    crash(alive)
    assert other.adopt_orphans() == 1
    assert drain(other) == [b"mine"]


def test_two_processes_adopting_at_once_share_the_orphans_without_overlap(tmp_path):
    orphan = make(tmp_path, segment_bytes=1024)
    for i in range(400):
        orphan.append(1, i.to_bytes(4, "big") * 64)  # 256 bytes each: over 100 segments
    crash(orphan)

    adopters = [make(tmp_path), make(tmp_path)]
    barrier = threading.Barrier(2)
    received: list[list[bytes]] = [[], []]

    def adopt(k: int) -> None:
        barrier.wait()
        adopters[k].adopt_orphans()
        received[k] = drain(adopters[k])

    threads = [threading.Thread(target=adopt, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = received[0] + received[1]
    assert len(everything) == 400
    assert len(set(everything)) == 400


def test_unusable_directory_raises_oserror(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError):
        make(blocker / "spool")


def test_a_spool_directory_removed_under_a_running_process_is_recreated(tmp_path):
    import shutil

    directory = tmp_path / "spool"
    spool = make(directory)
    spool.append(1, b"before")
    assert drain(spool) == [b"before"]
    shutil.rmtree(directory)
    assert spool.append(1, b"after")
    assert drain(spool) == [b"after"]
