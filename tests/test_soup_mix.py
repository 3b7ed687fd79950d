"""The app's live soups: engine mixes equal the plain weighted mean, and the memory budget refuses before reading."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import perturbed

from wiseft_core.errors import WiseftError
from wiseft_core.files.checkpoints import save_classifier
from wiseft_core.serve.soup_mix import SoupCache, check_soup_budget, live_soup_of, open_live_soup, soup_memory_bytes


@pytest.fixture(scope="module")
def three_files(tmp_path_factory, tiny_vit):
    classifier, meta, _ = tiny_vit
    folder = tmp_path_factory.mktemp("soup")
    paths = {}
    for k, name in enumerate(["zero-shot", "fine-tune A", "fine-tune B"]):
        paths[name] = folder / f"m{k}.safetensors"
        state = classifier.state_dict() if k == 0 else perturbed(classifier.state_dict(), seed=k)
        save_classifier(paths[name], state, meta)
    return paths


def test_the_live_mix_equals_the_plain_weighted_mean_of_the_picked_models(three_files):
    soup = open_live_soup(three_files, live_models=1)
    thetas = [c.model.state_dict() for c in soup.endpoints.classifiers]
    picked, weights = ["fine-tune B", "zero-shot"], [0.7, 0.3]
    with soup.pool.lease() as live:
        live.set_weights(soup.weights_for(picked, weights))
        mixed = live.model.state_dict()
    for key, value in mixed.items():
        if value.is_floating_point():
            expected = 0.7 * thetas[2][key].double() + 0.3 * thetas[0][key].double()
            assert torch.allclose(value.double(), expected, atol=1e-6), key
    assert soup.weights_for(picked, weights) == (0.3, 0.0, 0.7)


def test_a_mix_predicts_like_a_model_loaded_with_the_mean_weights(three_files, tiny_vit):
    _, meta, _ = tiny_vit
    soup = open_live_soup(three_files, live_models=1)
    thetas = [c.model.state_dict() for c in soup.endpoints.classifiers]
    uniform = {k: (sum(t[k].double() for t in thetas) / 3).to(v.dtype) if v.is_floating_point() else v
               for k, v in thetas[0].items()}
    batch = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    got = soup.top1(list(three_files), [1 / 3, 1 / 3, 1 / 3], batch)
    plain = copy.deepcopy(soup.endpoints.classifiers[0].model)
    plain.load_state_dict(uniform)
    probs = plain(batch).float().softmax(dim=-1)
    assert [label for label, _ in got] == [meta.classnames[i] for i in probs.argmax(dim=1).tolist()]
    assert [p for _, p in got] == pytest.approx(probs.max(dim=1).values.tolist(), abs=1e-5)


def test_one_mix_per_weights_vector_and_the_pool_stays_at_its_size(three_files):
    soup = open_live_soup(three_files, live_models=1)
    batch = torch.zeros(1, 3, 32, 32)
    for weights in ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.3, 0.5]):
        soup.top1(list(three_files), weights, batch)
    assert soup.pool.created == 1


def test_an_unknown_ingredient_is_one_clear_line(three_files):
    soup = open_live_soup(three_files, live_models=1)
    with pytest.raises(WiseftError, match="not an ingredient of this soup: greedy soup"):
        soup.weights_for(["greedy soup"], [1.0])


def test_the_budget_counts_every_endpoint_and_the_live_mixes_and_refuses_before_reading(three_files, tmp_path):
    assert soup_memory_bytes([10, 30, 20], live_models=2) == 60 + 2 * 30
    sizes = sum(p.stat().st_size for p in three_files.values())
    largest = max(p.stat().st_size for p in three_files.values())
    check_soup_budget([p.stat().st_size for p in three_files.values()], 1, budget=sizes + largest)
    with pytest.raises(WiseftError, match=r"a soup of 3 models with 1 live mix\(es\) needs about .* over the"):
        check_soup_budget([p.stat().st_size for p in three_files.values()], 1, budget=sizes + largest - 1)
    garbage = tmp_path / "huge.safetensors"
    garbage.write_bytes(b"not a checkpoint" * 1000)
    with pytest.raises(WiseftError, match="over the"):  # refused on its size: never parsed
        open_live_soup({"huge": garbage}, live_models=1, budget=100)


def test_the_room_cache_builds_a_soup_once_per_key_and_forgets_the_oldest(three_files):
    built = []

    def build(tag):
        def make():
            built.append(tag)
            return tag
        return make

    cache = SoupCache(size=2)
    assert [cache.get(k, build(k)) for k in ("a", "b", "a", "c", "b", "a")] == ["a", "b", "a", "c", "b", "a"]
    assert built == ["a", "b", "c", "b", "a"]  # "b" went when "c" came (a was used more recently), then "a"


def test_a_soup_of_shared_models_copies_their_weights_and_leaves_them_alone(three_files):
    shared = open_live_soup(three_files, live_models=1).endpoints.classifiers
    def storage() -> list[int]:
        return [next(c.model.parameters()).data_ptr() for c in shared]

    before = storage()
    soup = live_soup_of(dict(zip("xyz", shared)), live_models=1)
    assert storage() == before  # still views of their own buffer, not of the new soup's
    with soup.pool.lease() as live:
        live.set_weights(soup.weights_for(["y"], [1.0]))
        assert all(torch.equal(a, b) for a, b in zip(live.model.state_dict().values(),
                                                     shared[1].model.state_dict().values()))
