"""The published model-soups results: the issue's numbers come out of the shipped files."""

import json

import pytest

from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.published_soups import PUBLISHED_SOUPS, best_single, load_published_soups


def test_the_published_files_give_the_papers_soups_and_best_single_model():
    models = load_published_soups()
    kinds = [m.kind for m in models]
    assert kinds.count("fine-tune") == 71 and kinds.count("LP init") == 1
    by_kind = {m.kind: m for m in models}
    best = best_single(models)
    assert round(by_kind["greedy soup"].reference, 2) == 81.03
    assert round(best.reference, 2) == 80.39 and round(best.avg_shifts, 2) == 47.97
    assert round(by_kind["uniform soup"].avg_shifts, 2) == 51.58
    assert by_kind["greedy soup"].reference > best.reference


def test_a_damaged_file_is_one_line_naming_the_file_and_line(tmp_path):
    for name in ("individual_model_results.jsonl", "uniform_soup_results.jsonl", "greedy_soup_results.jsonl"):
        (tmp_path / name).write_text((PUBLISHED_SOUPS / name).read_text())
    record = {"model_name": "model_x", "ImageNet": 0.7}
    (tmp_path / "uniform_soup_results.jsonl").write_text(json.dumps(record) + "\n")
    with pytest.raises(WiseftError, match="uniform_soup_results.jsonl, line 1: expected model_name, ImageNet2p"):
        load_published_soups(tmp_path)
    (tmp_path / "greedy_soup_results.jsonl").unlink()
    (tmp_path / "uniform_soup_results.jsonl").write_text("{not json\n")
    with pytest.raises(WiseftError, match="line 1: not JSON"):
        load_published_soups(tmp_path)
