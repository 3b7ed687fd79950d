"""Uploads on a served app: private per session, never through links, streamed, capped, deleted."""

from __future__ import annotations

import io
import os
import stat
import threading
import tracemalloc
from pathlib import Path

import pytest

from wiseft_core.serve.uploads import UploadError, UploadStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path):
    made = UploadStore(tmp_path, total_cap_bytes=10_000, idle_seconds=60, clock=Clock())
    yield made
    made.close()


def put(store: UploadStore, session: str, data: bytes, slot: str = "ft", name: str = "ft.safetensors") -> Path:
    return store.store(session, slot, name, io.BytesIO(data), len(data), tag=str(len(data)))


def test_each_session_gets_its_own_private_folder_and_files_only_it_can_read(store):
    a, b = put(store, "A", b"alpha"), put(store, "B", b"bravo")
    assert a.parent != b.parent and a.read_bytes() == b"alpha" and b.read_bytes() == b"bravo"
    assert stat.S_IMODE(a.parent.stat().st_mode) == 0o700 and stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(a.stat().st_mode) == 0o600
    assert a.suffix == ".safetensors" and "ft.safetensors" != a.name  # the viewer's file name never names a path


def test_a_hostile_file_name_cannot_steer_where_the_upload_is_written(store):
    path = put(store, "A", b"data", name="../../etc/passwd")
    assert path.parent.parent == store.root and path.suffix == ".bin"


def test_a_planted_file_or_symlink_at_the_target_makes_the_write_fail_instead_of_being_used(store, tmp_path,
                                                                                          monkeypatch):
    from wiseft_core.serve import uploads

    put(store, "A", b"first")
    folder = store._sessions["A"].folder
    target = tmp_path / "victim"
    monkeypatch.setattr(uploads.secrets, "token_hex", lambda n: "fixed")
    os.symlink(target, folder / "zs-fixed.safetensors")  # a dangling link where the upload will go
    with pytest.raises(FileExistsError):
        put(store, "A", b"payload", slot="zs", name="zs.safetensors")
    assert not target.exists()
    (folder / "zs-fixed.pt").write_bytes(b"planted")
    with pytest.raises(FileExistsError):
        put(store, "A", b"payload", slot="zs", name="zs.pt")
    assert (folder / "zs-fixed.pt").read_bytes() == b"planted"
    assert store.total_bytes == len(b"first")  # failed writes give their reservation back


def test_a_new_upload_in_a_slot_replaces_the_old_file_and_a_rerun_reuses_it(store):
    first = put(store, "A", b"one")
    assert store.lookup("A", "ft", "3") == first and store.lookup("A", "ft", "other") is None
    second = put(store, "A", b"three")
    assert not first.exists() and second.exists() and store.total_bytes == 5


def test_the_total_cap_counts_every_session_and_refuses_with_a_clear_message(store):
    put(store, "A", b"x" * 6000)
    with pytest.raises(UploadError, match="upload space is full"):
        put(store, "B", b"y" * 5000)
    assert store.total_bytes == 6000
    store.release("A")
    put(store, "B", b"y" * 5000)
    assert store.total_bytes == 5000


def test_concurrent_uploads_never_overshoot_the_cap(store):
    results: list[object] = []

    def upload(i: int) -> None:
        try:
            results.append(put(store, f"S{i}", b"z" * 3000))
        except UploadError as err:
            results.append(err)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(r, Path) for r in results) == 3 and store.total_bytes == 9000


def test_a_source_longer_than_announced_is_refused(store):
    with pytest.raises(UploadError, match="larger than it announced"):
        store.store("A", "ft", "ft.pt", io.BytesIO(b"x" * 500), 100)
    assert store.total_bytes == 0 and not any(store._sessions["A"].folder.iterdir())


def test_ending_a_session_or_idling_past_the_timeout_deletes_its_folder(store):
    a, b = put(store, "A", b"a"), put(store, "B", b"b")
    store.release("A")
    assert not a.parent.exists() and b.exists()
    store._clock.now += 30
    store.touch("B")
    store._clock.now += 45  # B was used 45 s ago: kept
    assert store.sweep_idle() == [] and b.exists()
    store._clock.now += 20
    assert store.sweep_idle() == ["B"] and not b.parent.exists() and store.total_bytes == 0


def test_uploads_are_streamed_to_disk_in_chunks_not_copied_whole_in_memory(tmp_path):
    store = UploadStore(tmp_path, total_cap_bytes=1 << 30)
    size = 48 << 20
    source = io.BytesIO(bytes(size))
    tracemalloc.start()
    path = store.store("A", "ft", "big.safetensors", source, size)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert path.stat().st_size == size
    assert peak < 4 << 20, f"peak {peak / 2**20:.1f} MiB while copying {size / 2**20:.0f} MiB"
    store.close()
    assert not store.root.exists()


class Upload:
    def __init__(self, name: str, size: int) -> None:
        self.name, self.size = name, size


def test_a_widgets_limits_are_checked_on_the_server_before_any_file_is_read():
    from wiseft_core.serve.uploads import UploadLimit, admit

    limit = UploadLimit(max_files=2, max_file_bytes=100, max_total_bytes=150)
    files = [Upload("a.png", 90), Upload("big.png", 101), Upload("b.png", 70), Upload("c.png", 10)]
    kept, refused = admit(files, limit)
    assert [f.name for f in kept] == ["a.png", "c.png"]
    assert refused == ["big.png: 0.0 MB is over the 0.0 MB limit per file",
                       "b.png: these files together are over the 0.0 MB limit"]
    many, refused = admit([Upload(f"{i}.png", 1) for i in range(20)], limit)
    assert len(many) == 2 and len(refused) == 18 and refused[0] == "2.png: at most 2 files here; this one was not used"


def test_the_playground_widgets_limits_match_what_the_page_shows():
    from wiseft_core.files.images import MAX_BYTES
    from wiseft_core.serve import uploads

    assert uploads.IMAGES.max_files == 6 and uploads.IMAGES.max_file_bytes == MAX_BYTES  # the decoder's own cap
    assert uploads.CLASS_NAMES.max_file_bytes == 1 << 20


def test_one_viewer_cannot_take_more_than_the_per_session_share_of_the_upload_space(tmp_path):
    store = UploadStore(tmp_path, total_cap_bytes=10_000, session_cap_bytes=3_000, clock=Clock())
    try:
        put(store, "alice", b"z" * 2_000, slot="zs")
        with pytest.raises(UploadError, match="allowed per viewer"):
            put(store, "alice", b"f" * 1_500, slot="ft")
        assert store.total_bytes == 2_000  # nothing kept of the refused file
        put(store, "alice", b"z" * 2_900, slot="zs")  # replacing a slot frees its share first
        put(store, "bob", b"b" * 3_000, slot="ft")
        assert store.total_bytes == 5_900
    finally:
        store.close()
