"""The restricted unpickler reads every way torch and wise-ft save a model, and spends no more than the file holds."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import wiseft_reference as ref
from hostile.corpus import memo_calls, memo_storage_trick, nested_streams, reparse_stream

from wiseft_core.engine.pair import load_pair
from wiseft_core.errors import WiseftError
from wiseft_core.files.reader import load_classifier
from wiseft_core.files.safe_pickle import BUDGET_SLACK, read_pickled

CLASSES = ["cat", "dog", "bird", "fish", "horse"]


@pytest.mark.parametrize("arch", [ref.TINY_VIT, ref.TINY_RESNET], ids=["vit", "resnet"])
def test_a_legacy_format_torch_save_of_a_whole_model_loads_and_matches_the_reference(arch, tmp_path):
    zeroshot = ref.zeroshot_classifier(arch, len(CLASSES), seed=0)
    finetuned = ref.finetuned_from(zeroshot, seed=1)
    ref.save_raw_pickle(zeroshot, tmp_path / "zeroshot.pt")
    with ref.reference_module_paths(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch cannot find the stand-in classes' source; it says so
        torch.save(finetuned, tmp_path / "legacy_model.pt", _use_new_zipfile_serialization=False)
    pair = load_pair(tmp_path / "zeroshot.pt", tmp_path / "legacy_model.pt", classnames=CLASSES)
    size = arch["image_resolution"]
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(5))
    live = pair.new_interpolator()
    live.set_alpha(1.0)
    with torch.no_grad():
        difference = (live.model(images) - ref.logits(finetuned, images)).abs().max().item()
    assert difference <= 1e-5
    assert load_classifier(tmp_path / "legacy_model.pt", classnames=CLASSES).meta.quick_gelu


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_one_embedded_storage_read_once_loads_and_read_twice_is_refused(tmp_path):
    once = write(tmp_path, "once.pt", memo_storage_trick(1, numel=1 << 12))
    with pytest.raises(WiseftError, match="does not hold a model"):
        read_pickled(once, "once.pt", "pickle")  # got past the budget to the content check
    storage_bytes = (1 << 12) * 4
    calls = (storage_bytes + BUDGET_SLACK) // storage_bytes + 2  # one more than file size + slack allows
    many = write(tmp_path, "many.pt", memo_storage_trick(calls, numel=1 << 12))
    with pytest.raises(WiseftError, match=r"many.pt: the pickle asks to parse more bytes than the file holds"):
        read_pickled(many, "many.pt", "pickle")


def test_a_stream_reparsed_many_times_is_refused_at_the_second_parse(tmp_path, monkeypatch):
    from wiseft_core.files import safe_pickle

    parses = []
    original = safe_pickle._Reader._legacy_stream
    monkeypatch.setattr(safe_pickle._Reader, "_legacy_stream",
                        lambda self, data: parses.append(len(data)) or original(self, data))
    path = write(tmp_path, "reparse.pt", reparse_stream(20_000, size=256 << 10))
    with pytest.raises(WiseftError, match="parse more bytes"):
        read_pickled(path, "reparse.pt", "pickle")
    assert len(parses) == 1  # the second parse was refused before it began


def test_legacy_streams_nest_at_most_two_deep(tmp_path):
    with pytest.raises(WiseftError, match="does not hold a model"):  # two deep: read, then not a model
        read_pickled(write(tmp_path, "two.pt", nested_streams(2)), "two.pt", "pickle")
    with pytest.raises(WiseftError, match="nested more than 2 deep"):
        read_pickled(write(tmp_path, "three.pt", nested_streams(3)), "three.pt", "pickle")


def test_containers_built_from_one_memoised_list_are_charged_per_element(tmp_path):
    listing = b"](K\x01" + b"2" * 999 + b"e"  # a 1000-element list, about 1 KB
    few = write(tmp_path, "few.pt", memo_calls(b"builtins\nset\n", listing, 10))
    with pytest.raises(WiseftError, match="does not hold a model"):
        read_pickled(few, "few.pt", "pickle")
    calls = (few.stat().st_size + BUDGET_SLACK) // 1000 + 2
    many = write(tmp_path, "many.pt", memo_calls(b"builtins\nset\n", listing, calls))
    with pytest.raises(WiseftError, match="build containers holding more bytes than the file holds"):
        read_pickled(many, "many.pt", "pickle")
