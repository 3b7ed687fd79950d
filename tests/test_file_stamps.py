"""File stamps: a cache key that changes whenever the file does."""

import os

from wiseft_core.serve.file_stamps import file_stamp


def test_a_rewritten_file_gets_a_new_stamp_even_with_the_same_size(tmp_path):
    path = tmp_path / "sweep.csv"
    path.write_text("a")
    first = file_stamp(path)
    path.write_text("b")
    os.utime(path, ns=(first[1] + 1_000_000, first[1] + 1_000_000))
    assert file_stamp(path) != first and file_stamp(path)[2] == 1


def test_a_missing_file_and_no_file_have_stamps_of_their_own(tmp_path):
    assert file_stamp(tmp_path / "gone.csv") == (str(tmp_path / "gone.csv"),)
    assert file_stamp(None) == ("",)
