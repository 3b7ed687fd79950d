"""The plane through three models: its weights, its grid, its CSV, measured on the demo world's tiny draws."""

import numpy as np
import pytest
import torch
from conftest import perturbed

from wiseft_core.data import world
from wiseft_core.data.datasets import load_dataset
from wiseft_core.demo.assets import DEMO_ZEROSHOT
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.state_dict_scorer import StateDictScorer
from wiseft_core.files.checkpoints import LoadedClassifier
from wiseft_core.files.reader import load_classifier
from wiseft_core.inspection.soup_plane import (
    measure_plane,
    measure_plane_live,
    plane_axis,
    plane_matrix,
    plane_point,
    plane_weights,
    read_plane_csv,
    write_plane_csv,
)
from wiseft_core.serve.jobs import Cancelled, CancelToken
from wiseft_core.serve.soup_mix import live_soup_of

needs_demo = pytest.mark.skipif(not DEMO_ZEROSHOT.is_file(), reason="the demo assets are not in this checkout")


def test_plane_weights_sum_to_one_and_name_the_vertices():
    assert plane_weights(0, 0) == [1.0, 0.0, 0.0]
    assert plane_weights(1, 0) == [0.0, 1.0, 0.0]
    assert plane_weights(0.5, 0.5) == [0.0, 0.5, 0.5]
    assert sum(plane_weights(-0.25, 1.25)) == pytest.approx(1.0)


def test_plane_point_is_theta0_plus_u_and_v_times_the_differences(theta_pair):
    thetas = [*theta_pair, perturbed(theta_pair[0], seed=9)]
    point = plane_point(thetas, 0.3, -0.2)
    for name, t0 in thetas[0].items():
        if t0.is_floating_point():
            expected = t0 + 0.3 * (thetas[1][name] - t0) - 0.2 * (thetas[2][name] - t0)
            assert torch.allclose(point[name], expected, atol=1e-5), name
    with pytest.raises(WiseftError, match="three state dicts"):
        plane_point(thetas[:2], 0.5, 0.5)


def test_plane_axis_hits_zero_half_and_one_exactly():
    axis = plane_axis(-0.25, 1.25, 0.125)
    assert len(axis) == 13 and axis[0] == -0.25 and axis[-1] == 1.25
    assert {0.0, 0.5, 1.0} <= set(axis)


@needs_demo
def test_a_measured_grid_round_trips_through_its_csv_and_its_vertices_score_as_the_models(tmp_path):
    zeroshot = load_classifier(DEMO_ZEROSHOT)
    theta0 = zeroshot.model.state_dict()
    heads = {k: v for k, v in theta0.items() if k.startswith("head.")}  # noise on BatchNorm variances gives NaNs
    thetas = [theta0, *({**theta0, **perturbed(heads, seed=s, scale=0.05)} for s in (1, 2))]
    with world.default_sizes(test=40):
        scorer = StateDictScorer(zeroshot.meta, ["demo:photo", "demo:sketch"])
        cells = measure_plane(thetas, scorer, [0.0, 1.0], [0.0, 0.5])
        alone = scorer.score(thetas[1], ["demo:sketch"])["demo:sketch"]
    assert len(cells) == 2 * 2 * 2 and {c.n for c in cells} == {40}
    vertex = next(c for c in cells if (c.u, c.v, c.dataset) == (1.0, 0.0, "demo:sketch"))
    assert vertex.top1 == alone.top1 and vertex.loss == pytest.approx(alone.loss, abs=1e-5)

    back = read_plane_csv(write_plane_csv(tmp_path / "plane.csv", cells))
    assert [(c.u, c.v, c.dataset, c.n) for c in back] == [(c.u, c.v, c.dataset, c.n) for c in cells]
    us, vs, values = plane_matrix(back, "demo:photo", "loss")
    assert us == [0.0, 1.0] and vs == [0.0, 0.5] and values.shape == (2, 2) and not np.isnan(values).any()


@needs_demo
def test_the_engines_plane_equals_the_state_dict_plane_and_a_cancelled_one_stops():
    zeroshot = load_classifier(DEMO_ZEROSHOT)
    theta0 = zeroshot.model.state_dict()
    heads = {k: v for k, v in theta0.items() if k.startswith("head.")}
    thetas = [theta0, *({**theta0, **perturbed(heads, seed=s, scale=0.05)} for s in (1, 2))]
    models = []
    for theta in thetas:
        model = load_classifier(DEMO_ZEROSHOT).model
        model.load_state_dict(theta)
        models.append(LoadedClassifier(model, zeroshot.meta, None))
    soup = live_soup_of(dict(zip("abc", models)), live_models=1)
    us, vs = [0.0, 1.0, 1.5], [-0.5, 0.5]
    with world.default_sizes(test=40):
        expected = measure_plane(thetas, StateDictScorer(zeroshot.meta, ["demo:sketch"]), us, vs)
        loaded = load_dataset("demo:sketch")
        seen = []
        cells = measure_plane_live(soup.pool.lease, loaded, zeroshot.meta.preprocessing.eval_transform(), us, vs,
                                   batch_size=16, progress=lambda done, total: seen.append((done, total)))
        token = CancelToken()
        token.cancel("stop")
        with pytest.raises(Cancelled, match="stop"):
            measure_plane_live(soup.pool.lease, loaded, zeroshot.meta.preprocessing.eval_transform(), us, vs,
                               cancel=token)
    assert [(c.u, c.v, c.n, c.top1) for c in cells] == [(c.u, c.v, c.n, c.top1) for c in expected]
    assert [c.loss for c in cells] == pytest.approx([c.loss for c in expected], abs=1e-5)
    assert seen[-1] == (6, 6) and soup.pool.created == 1
    assert torch.equal(models[1].model.state_dict()["head.weight"], thetas[1]["head.weight"])  # shared models intact


def test_a_plane_csv_with_other_columns_is_one_clear_error(tmp_path):
    path = tmp_path / "plane.csv"
    path.write_text("u,v,top1\n0,0,50\n")
    with pytest.raises(WiseftError, match="plane.csv: expected the columns u,v,dataset,top1,loss,n"):
        read_plane_csv(path)
    path.write_text("u,v,dataset,top1,loss,n\n0,zero,demo:photo,50,1.0,10\n")
    with pytest.raises(WiseftError, match="plane.csv, line 2"):
        read_plane_csv(path)
    with pytest.raises(WiseftError, match="not measured on demo:v2"):
        plane_matrix([], "demo:v2", "top1")
