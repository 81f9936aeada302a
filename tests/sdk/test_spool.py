"""The disk spool: atomic files, replay order, bounds, the replay lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay._batches import Batch
from assay._spool import Spool, default_spool_root, rows_of

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough


def _batch(spool: Spool, rows: int = 10, size: int = 100) -> Batch:
    return Batch("predictions", spool.new_name("predictions", rows, True), b"x" * size, rows)


def test_batches_replay_in_the_order_they_were_written(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 1 << 20)
    written = [_batch(spool, rows=i + 1) for i in range(25)]
    for batch in written:
        spool.write(batch)

    replayed = [spool.read(path) for path, _ in spool.pending()]

    assert [b.name for b in replayed] == [b.name for b in written]
    assert [b.rows for b in replayed] == list(range(1, 26))
    assert all(b.path is not None and b.body == b"x" * 100 for b in replayed)


def test_a_written_batch_is_a_whole_file_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    batch = _batch(spool, size=5000)

    spool.write(batch)

    assert [p.name for p in tmp_path.iterdir()] == [batch.name]
    assert (tmp_path / batch.name).read_bytes() == batch.body


def test_a_full_spool_drops_its_oldest_batches_and_reports_their_rows(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1000)
    batches = [_batch(spool, rows=7, size=300) for _ in range(5)]
    dropped = [spool.write(batch) for batch in batches]

    assert dropped == [0, 0, 0, 7, 7]
    assert [p.name for p, _ in spool.pending()] == [b.name for b in batches[2:]]


def test_a_batch_cut_before_every_batch_on_disk_is_the_one_a_full_spool_drops(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, 1000)
    late, first, second, third = [_batch(spool, rows=n, size=300) for n in (4, 5, 6, 7)]
    for batch in (first, second, third):
        spool.write(batch)

    assert spool.write(late) == 4  # a sender spools, late, a batch it held: it is the oldest
    assert [p.name for p, _ in spool.pending()] == [first.name, second.name, third.name]
    spool.remove(spool.pending()[0][0])
    assert spool.write(late) == 0  # room without deleting a newer batch: it is kept


def test_a_batch_larger_than_the_whole_spool_is_the_one_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1000)
    spool.write(_batch(spool, size=600))

    assert spool.write(_batch(spool, rows=42, size=1001)) == 42
    assert len(spool.pending()) == 1


def test_a_batch_another_process_sent_meanwhile_reads_as_gone(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    batch = _batch(spool)
    spool.write(batch)
    (path, _) = spool.pending()[0]
    spool.remove(path)

    assert spool.read(path) is None
    spool.remove(path)  # removing twice is harmless


def test_stale_temporary_files_of_a_killed_writer_are_cleaned_up(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    stale = tmp_path / ".abandoned.tmp"
    fresh = tmp_path / ".being-written.tmp"
    stale.write_bytes(b"half a batch")
    fresh.write_bytes(b"half a batch")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))

    assert spool.pending() == []
    assert not stale.exists()
    assert fresh.exists()


def test_foreign_files_in_the_spool_directory_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a batch")
    spool = Spool(tmp_path, 1 << 20)

    assert spool.pending() == []
    assert rows_of(tmp_path / "notes.txt") == 0


def test_only_one_process_at_a_time_holds_the_replay_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from assay._spool import Spool; "
            f"s = Spool(Path({str(tmp_path)!r}), 1000); "
            "print(s.acquire_replay_lock(), flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert holder.stdout.readline().strip() == "True"
        spool = Spool(tmp_path, 1000)
        assert spool.acquire_replay_lock() is False
    finally:
        holder.communicate("", timeout=30)

    assert spool.acquire_replay_lock() is True  # released when the holder exited
    spool.release_replay_lock()


def test_the_default_spool_root_is_under_the_users_cache_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    assert default_spool_root() == tmp_path / "assay" / "spool"


def test_next_batch_replays_oldest_first_and_sees_batches_written_meanwhile(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, 1 << 20)
    first, second = _batch(spool), _batch(spool)
    spool.write(first)
    spool.write(second)

    assert spool.next_batch().name == first.name
    spool.remove(tmp_path / first.name)
    third = _batch(spool)
    spool.write(third)
    spool.remove(tmp_path / second.name)  # sent by another process meanwhile

    assert spool.next_batch().name == third.name
    spool.remove(tmp_path / third.name)
    assert spool.next_batch() is None


def test_the_size_bound_holds_across_many_writes_without_rescanning_each_time(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, 10_000)
    dropped = sum(spool.write(_batch(spool, rows=1, size=1000)) for _ in range(250))

    assert sum(size for _, size in spool.pending()) <= 10_000
    assert dropped == 250 - len(spool.pending())
