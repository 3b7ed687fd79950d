"""Each merge method against its formula on small tensors, and the --method seam end to end."""

import json

import pytest
import torch

from wiseft_core.cli.dispatch import main
from wiseft_core.engine.merge_methods import METHODS, make_spec
from wiseft_core.engine.merge_methods.dare import keep_mask
from wiseft_core.engine.pair import load_pair
from wiseft_core.errors import WiseftError
from wiseft_core.files.checkpoints import load_classifier, save_classifier

BASE = torch.tensor([1.0, 2.0, 3.0, 4.0])
FINETUNED = [BASE + torch.tensor([1.0, -2.0, 3.0, 0.1]), BASE + torch.tensor([-1.0, 1.0, 2.0, -4.0])]


def merged(name, args=(), tensors=FINETUNED):
    return make_spec(name, list(args)).merge_tensor("w", BASE, tensors)


def test_the_registry_holds_the_five_methods_with_wise_ft_as_default():
    assert set(METHODS) == {"wise-ft", "weighted-average", "task-arithmetic", "ties", "dare"}
    assert make_spec().name == "wise-ft" and make_spec().params() == {}


def test_task_arithmetic_adds_scaled_task_vectors_and_its_weights_say_the_same():
    spec = make_spec("task-arithmetic", ["lambda=0.5"])
    expected = BASE + 0.5 * ((FINETUNED[0] - BASE) + (FINETUNED[1] - BASE))
    torch.testing.assert_close(merged("task-arithmetic", ["scale=0.5"]), expected)
    weights = spec.weights_over(2)
    assert weights == (0.0, 0.5, 0.5)
    torch.testing.assert_close(weights[0] * BASE + weights[1] * FINETUNED[0] + weights[2] * FINETUNED[1], expected)
    assert make_spec("task-arithmetic", ["scale=0.3"]).weights_over(3) == pytest.approx((0.1, 0.3, 0.3, 0.3))


def test_weighted_average_is_uniform_by_default_and_takes_weights():
    torch.testing.assert_close(merged("weighted-average"), (FINETUNED[0] + FINETUNED[1]) / 2)
    torch.testing.assert_close(merged("weighted-average", ["weights=0.25,0.75"]),
                               0.25 * FINETUNED[0] + 0.75 * FINETUNED[1])
    with pytest.raises(WiseftError, match="must sum to 1"):
        make_spec("weighted-average", ["weights=0.5,0.6"])
    with pytest.raises(WiseftError, match="2 weight\\(s\\) for 3"):
        make_spec("weighted-average", ["weights=0.5,0.5"]).weights_over(3)


def test_ties_trims_elects_the_sign_by_mass_and_averages_the_agreeing_values():
    # task vectors [1, -2, 3, 0.1] and [-1, 1, 2, -4]; density 0.5 keeps two values of each:
    # [0, -2, 3, 0] and [0, 0, 2, -4]; summed [0, -2, 5, -4] elects signs [0, -, +, -];
    # agreeing means: 0, -2, (3 + 2) / 2, -4.
    expected = BASE + 0.8 * torch.tensor([0.0, -2.0, 2.5, -4.0])
    torch.testing.assert_close(merged("ties", ["density=0.5", "lambda=0.8"]), expected)
    with pytest.raises(WiseftError, match="ties density must be in \\(0, 1\\]"):
        make_spec("ties", ["density=1.5"])


def test_ties_at_full_density_with_agreeing_signs_is_the_mean_task_vector():
    same_sign = [BASE + torch.tensor([1.0, 2.0, 3.0, 4.0]), BASE + torch.tensor([3.0, 2.0, 1.0, 0.0])]
    torch.testing.assert_close(merged("ties", ["density=1"], same_sign), BASE + torch.tensor([2.0, 2.0, 2.0, 4.0]))


def test_dare_drops_and_rescales_with_a_seeded_mask():
    density = 0.5
    result = merged("dare", ["density=0.5", "seed=3"])
    masks = [keep_mask(BASE.shape, density, 3, "w", i) for i in range(2)]
    expected = BASE + sum((t - BASE) * m / density for t, m in zip(FINETUNED, masks))
    torch.testing.assert_close(result, expected)
    assert torch.equal(result, merged("dare", ["density=0.5", "seed=3"]))  # same seed, same bytes
    torch.testing.assert_close(merged("dare", ["density=1"]), merged("task-arithmetic"))


def test_dare_masks_keep_about_density_of_the_values():
    mask = keep_mask(torch.Size([100_000]), 0.3, 0, "w", 0)
    assert abs(float(mask.float().mean()) - 0.3) < 0.01
    assert not torch.equal(mask, keep_mask(torch.Size([100_000]), 0.3, 0, "w", 1))


@pytest.mark.parametrize(("name", "args", "message"), [
    ("nope", [], "--method 'nope': expected one of"),
    ("ties", ["density"], "expects KEY=VALUE"),
    ("dare", ["seed=x"], "'x' is not a valid int"),
    ("wise-ft", ["alpha=1"], "wise-ft has no such parameter"),
])
def test_bad_method_arguments_are_one_line_errors(name, args, message):
    with pytest.raises(WiseftError, match=message):
        make_spec(name, args)


@pytest.fixture(scope="module")
def three_files(tmp_path_factory, tiny_vit):
    from conftest import perturbed

    classifier, meta, _ = tiny_vit
    folder = tmp_path_factory.mktemp("merge")
    paths = [folder / f"m{i}.safetensors" for i in range(3)]
    save_classifier(paths[0], classifier, meta)
    for seed, path in enumerate(paths[1:], start=1):
        save_classifier(path, perturbed(classifier.state_dict(), seed=seed), meta)
    return paths


def test_a_linear_method_makes_the_fine_tuned_side_on_the_engine_and_the_recipe_names_every_fine_tune(three_files,
                                                                                                       tmp_path):
    zs, a, b = three_files
    pair = load_pair(zs, [a, b], merge=make_spec("task-arithmetic", ["scale=0.7"]))
    theta0, theta_a, theta_b = (load_classifier(p).model.state_dict() for p in three_files)
    side = pair.finetuned.model.state_dict()
    for key in theta0:
        expected = theta0[key].double() + 0.7 * ((theta_a[key] - theta0[key]) + (theta_b[key] - theta0[key])).double()
        torch.testing.assert_close(side[key].double(), expected, atol=1e-5, rtol=0)
    recipe = pair.merged_checkpoint(0.5).meta.recipe
    assert recipe["method"] == "task-arithmetic" and recipe["params"] == {"scale": 0.7} and recipe["alpha"] == 0.5
    assert recipe["finetuned"] == [a.name, b.name]
    assert recipe["finetuned_sha256"] == [load_classifier(a).sha256, load_classifier(b).sha256]


def test_wise_ft_takes_exactly_one_fine_tuned_checkpoint(three_files):
    zs, a, b = three_files
    with pytest.raises(WiseftError, match="wise-ft takes exactly 1 fine-tuned checkpoint"):
        load_pair(zs, [a, b])
    plain = load_pair(zs, a, merge=make_spec("wise-ft"))
    assert plain.merge is None and plain.finetuned.path == str(a)  # the plain pair, no copy


def test_interpolate_with_ties_round_trips_through_the_cli(three_files, tmp_path, capsys):
    zs, a, b = three_files
    out = tmp_path / "ties.safetensors"
    assert main(["interpolate", "--zeroshot", str(zs), "--finetuned", str(a), "--finetuned", str(b),
                 "--method", "ties", "--method-arg", "density=0.5", "--alpha", "1", "--out", str(out)]) == 0
    assert "ties {'density': 0.5, 'scale': 1.0}" in capsys.readouterr().out
    saved = load_classifier(out)
    assert saved.meta.recipe["method"] == "ties" and saved.meta.recipe["params"] == {"density": 0.5, "scale": 1.0}
    theta0, theta_a, theta_b = (load_classifier(p).model.state_dict() for p in three_files)
    spec = make_spec("ties", ["density=0.5"])
    for key, value in saved.model.state_dict().items():
        expected = spec.merge_tensor(key, theta0[key], [theta_a[key], theta_b[key]])
        torch.testing.assert_close(value, expected, atol=1e-6, rtol=0)


def test_predict_with_a_method_reports_it_and_a_bad_method_is_one_line(three_files, tmp_path, capsys):
    from PIL import Image

    zs, a, b = three_files
    image = tmp_path / "x.png"
    Image.new("RGB", (32, 32), (200, 10, 10)).save(image)
    assert main(["predict", "--zeroshot", str(zs), "--finetuned", str(a), "--finetuned", str(b),
                 "--method", "weighted-average", "--method-arg", "weights=0.3,0.7", "--json", str(image)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "weighted-average" and report["params"] == {"weights": [0.3, 0.7]}
    assert main(["predict", "--zeroshot", str(zs), "--finetuned", str(a), "--method", "ties",
                 "--method-arg", "density=2", str(image)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "ties density must be in (0, 1], got 2.0" in err


def test_a_sweep_with_a_method_names_it_in_the_finetuning_column_and_starts_at_the_zero_shot_model(three_files,
                                                                                                   tmp_path, tiny_vit):
    from wiseft_test_data import image_folder

    from wiseft_core.evaluate import results
    from wiseft_core.evaluate.sweep import SweepConfig, run_sweep

    zs, a, b = three_files
    data = f"folder={image_folder(tmp_path / 'data', tiny_vit[1].classnames, per_class=2, seed=3)}"
    out = tmp_path / "sweep.csv"
    common = dict(zeroshot=str(zs), evals=[data], out=str(out), alphas=[0.0, 1.0], progress=False)
    run_sweep(SweepConfig(finetuned=[str(a), str(b)], method="task-arithmetic", method_args=["scale=0.5"], **common))
    run_sweep(SweepConfig(finetuned=str(a), **common))  # the plain pair: its own rows, none skipped
    rows = results.read_sweep_csv(out)
    labels = {r["finetuning"] for r in rows}
    assert labels == {"end-to-end", "end-to-end, task-arithmetic scale=0.5"}
    at_zero = {r["finetuning"]: r["top1"] for r in rows if r["alpha"] == 0.0}
    assert len(set(at_zero.values())) == 1  # alpha 0 is the zero-shot model whatever the method
