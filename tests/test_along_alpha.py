"""Per-image outputs along alpha on the room's shared live models: the same numbers, no model of their own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from wiseft_test_data import image_folder

from wiseft_core.data.datasets import load_dataset
from wiseft_core.engine.interpolation import interpolate_state_dicts
from wiseft_core.engine.pair import load_pair
from wiseft_core.engine.predict import to_batch
from wiseft_core.files.checkpoints import build_classifier
from wiseft_core.inspection.along_alpha import along_alpha
from wiseft_core.inspection.landscape import measure_path
from wiseft_core.inspection.saliency import explain, explain_along
from wiseft_core.serve.interpolator_pool import InterpolatorPool
from wiseft_core.serve.jobs import Cancelled, CancelToken

ALPHAS = [0.0, 0.3, 0.5, 1.0]


@pytest.fixture(scope="module")
def pair_and_data(tiny_pair_files, tmp_path_factory):
    zs, ft, _ = tiny_pair_files
    root = image_folder(tmp_path_factory.mktemp("along") / "data", ["cat", "dog", "bird", "fish", "horse"], per_class=3)
    return load_pair(zs, ft), load_dataset(f"folder={root}")


def counted_pool(pair, size: int = 1):
    made = []

    def make():
        made.append(pair.new_interpolator())
        return made[-1]

    return InterpolatorPool(make, size=size, background_grace_s=0.0), made


def test_along_alpha_through_the_shared_pool_equals_its_own_model_and_the_plain_formula(pair_and_data):
    pair, loaded = pair_and_data
    pool, made = counted_pool(pair)
    shared = along_alpha(pair, loaded, ALPHAS, ("weights",), batch_size=4,
                         live=lambda a: pool.at(a, background=True))[0]
    own = along_alpha(pair, loaded, ALPHAS, ("weights",), batch_size=4)[0]
    assert np.array_equal(shared.predictions, own.predictions) and np.array_equal(shared.loss_sum, own.loss_sum)
    assert len(made) == 1  # the pool's one model, not one per call

    images = [loaded.images[i][0] for i in range(len(loaded))]
    labels = torch.tensor([loaded.images[i][1] for i in range(len(loaded))])
    batch = to_batch(images, pair.preprocessing)
    theta0, theta1 = pair.zeroshot.model.state_dict(), pair.finetuned.model.state_dict()
    for k, alpha in enumerate(ALPHAS):
        plain = build_classifier(pair.meta)
        plain.load_state_dict(interpolate_state_dicts(theta0, theta1, alpha))
        with torch.no_grad():
            logits = plain.eval()(batch)
        assert np.array_equal(shared.predictions[k], logits.argmax(dim=1).numpy())
        expected = float(F.cross_entropy(logits, labels, reduction="sum"))
        assert shared.loss_sum[k] == pytest.approx(expected, rel=1e-5)


def test_a_viewer_moving_the_shared_model_between_batches_does_not_change_the_numbers(pair_and_data):
    pair, loaded = pair_and_data
    pool, _ = counted_pool(pair)

    def live(alpha):  # another viewer's slider moves the only live model before every batch
        with pool.lease() as model:
            model.set_alpha(0.77)
        return pool.at(alpha, background=True)

    moved = along_alpha(pair, loaded, ALPHAS, ("weights",), batch_size=2, live=live)[0]
    own = along_alpha(pair, loaded, ALPHAS, ("weights",), batch_size=2)[0]
    assert np.array_equal(moved.predictions, own.predictions) and np.array_equal(moved.loss_sum, own.loss_sum)


def test_a_cancelled_computation_stops_at_the_next_batch(pair_and_data):
    pair, loaded = pair_and_data
    token, passes = CancelToken(), []

    def progress(done, total):
        passes.append(done)
        token.cancel("the session ended")

    with pytest.raises(Cancelled, match="the session ended"):
        along_alpha(pair, loaded, ALPHAS, ("weights", "outputs"), batch_size=4, progress=progress, cancel=token)
    assert passes == [1]
    with pytest.raises(Cancelled):
        along_alpha(pair, loaded, ALPHAS, ("outputs",), batch_size=4, cancel=token)


def test_the_landscape_measures_through_the_pool_with_the_same_losses(pair_and_data):
    pair, loaded = pair_and_data
    pool, made = counted_pool(pair)
    shared = measure_path("p", pair, [loaded], ALPHAS, 4, live=lambda a: pool.at(a, background=True))[0]
    own = measure_path("p", pair, [loaded], ALPHAS, 4)[0]
    assert shared.losses == own.losses and shared.top1 == own.top1 and len(made) == 1


def test_saliency_through_the_pool_equals_explain_on_a_model_of_its_own(pair_and_data):
    pair, loaded = pair_and_data
    images = [loaded.images[i][0] for i in (0, 5)]
    pool, made = counted_pool(pair)
    shared = explain_along(lambda a: pool.at(a, background=True), images, pair.preprocessing, [0.0, 0.4])
    own = explain(pair.new_interpolator(), images, pair.preprocessing, [0.0, 0.4])
    for row_shared, row_own in zip(shared, own, strict=True):
        for a, b in zip(row_shared, row_own, strict=True):
            assert (a.alpha, a.predicted, a.peak) == (b.alpha, b.predicted, b.peak)
            np.testing.assert_array_equal(a.cam, b.cam)
    assert len(made) == 1
    token = CancelToken()
    token.cancel("cancelled by you")
    with pytest.raises(Cancelled):
        explain_along(lambda a: pool.at(a), images, pair.preprocessing, [0.0], cancel=token)
