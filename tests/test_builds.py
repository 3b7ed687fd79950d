"""Heavy builds a viewer starts: one at a time per process; a download is the same bytes as the CLI's merge."""

import threading
import time

from wiseft_core.engine.pair import load_pair
from wiseft_core.files.checkpoints import checkpoint_bytes
from wiseft_core.serve.builds import merged_checkpoint_bytes


def test_the_download_is_the_same_bytes_as_the_pairs_merge(tiny_pair_files):
    zs, ft, _ = tiny_pair_files
    pair = load_pair(zs, ft)
    assert merged_checkpoint_bytes(pair, 0.3) == checkpoint_bytes(*pair.merged_checkpoint(0.3))


def test_viewers_pressing_download_together_build_one_merge_at_a_time(tiny_pair_files, monkeypatch):
    zs, ft, _ = tiny_pair_files
    pair = load_pair(zs, ft)
    original, running, most = pair.merged_checkpoint, [0], [0]

    def slow_merge(*args):
        running[0] += 1
        most[0] = max(most[0], running[0])
        time.sleep(0.05)
        try:
            return original(*args)
        finally:
            running[0] -= 1

    monkeypatch.setattr(pair, "merged_checkpoint", slow_merge)
    threads = [threading.Thread(target=merged_checkpoint_bytes, args=(pair, a / 10)) for a in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1
