"""`wiseft soup`: the uniform soup is the mean, the greedy soup follows the paper's recipe, a killed run resumes."""

import json

import pytest
import torch
from conftest import perturbed
from wiseft_test_data import image_folder

from wiseft_core.cli.dispatch import main
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate import soup as soup_module
from wiseft_core.evaluate.soup import SoupConfig, run_soup
from wiseft_core.files.checkpoints import load_classifier, read_meta, save_classifier

# (head.bias[0], head.bias[1]) of four ingredients. The fake held-out accuracy is
# 100 - 10 * (|b0 - 0.5| + |b1 - 0.5|): a 96, b 95, c 93, d 92, so the greedy order is a, b, c, d.
# {a} 96; + b: mean (0.5, 0.05) -> 95.5, rejected; + c: {a, c} = (0.25, 0.2) -> 94.5, rejected;
# + d: {a, d} = (0.5, 0.7) -> 98, accepted. Greedy soup: a and d, weights 1/2 each, held-out 98.
BIASES = {"a": (0.5, 0.1), "b": (0.5, 0.0), "c": (0.0, 0.3), "d": (0.5, 1.3)}


def fake_top1(model) -> float:
    b0, b1 = (float(v) for v in model.head.bias[:2])
    return 100 - 10 * (abs(b0 - 0.5) + abs(b1 - 0.5))


class FakeHeldOut:
    calls = 0

    def __init__(self, spec, meta, config, device):
        self.device = device

    def top1(self, model):
        type(self).calls += 1
        return fake_top1(model)


@pytest.fixture(scope="module")
def ingredients(tmp_path_factory, tiny_vit):
    classifier, meta, _ = tiny_vit
    folder = tmp_path_factory.mktemp("soup")
    paths = {}
    for seed, (name, (b0, b1)) in enumerate(BIASES.items(), start=1):
        theta = perturbed(classifier.state_dict(), seed=seed, scale=0.05)
        theta["head.bias"][:2] = torch.tensor([b0, b1])
        paths[name] = folder / f"{name}.safetensors"
        save_classifier(paths[name], theta, meta)
    return paths


def states(paths):
    return [load_classifier(p).model.state_dict() for p in paths]


def test_the_uniform_soup_is_the_plain_mean_and_names_every_ingredient(ingredients, tmp_path):
    paths = [ingredients[k] for k in "dbca"]
    out = tmp_path / "uniform.safetensors"
    made = run_soup(SoupConfig(ingredients=[str(p) for p in paths], out=str(out), progress=False))
    soup = load_classifier(out).model.state_dict()
    thetas = states(paths)
    for key, value in soup.items():
        torch.testing.assert_close(value, torch.stack([t[key] for t in thetas]).mean(0), atol=1e-6, rtol=0)
    recipe = read_meta(out).recipe
    assert recipe["method"] == "weighted-average" and recipe["soup"] == "uniform"
    assert [r["file"] for r in recipe["ingredients"]] == [p.name for p in paths]
    assert [r["sha256"] for r in recipe["ingredients"]] == [load_classifier(p).sha256 for p in paths]
    assert [r["weight"] for r in recipe["ingredients"]] == made.weights == [0.25] * 4


def test_the_greedy_soup_reproduces_the_hand_computed_choice(ingredients, tmp_path, monkeypatch):
    monkeypatch.setattr(soup_module, "HeldOut", FakeHeldOut)
    paths = [str(ingredients[k]) for k in "cdab"]  # the order given does not matter: held-out accuracy ranks
    out = tmp_path / "greedy.safetensors"
    made = run_soup(SoupConfig(ingredients=paths, out=str(out), method="greedy", eval="demo:photo@val",
                               progress=False))
    assert made.weights == [0.0, 0.5, 0.5, 0.0] and made.heldout_top1 == pytest.approx(98.0)
    thetas = states([ingredients["a"], ingredients["d"]])
    soup = load_classifier(out)
    for key, value in soup.model.state_dict().items():
        torch.testing.assert_close(value, (thetas[0][key] + thetas[1][key]) / 2, atol=1e-6, rtol=0)
    assert fake_top1(soup.model) == pytest.approx(98.0, abs=1e-4)  # the written soup is the model measured
    recipe = soup.meta.recipe
    assert recipe["soup"] == "greedy" and recipe["eval"] == "demo:photo@val"
    heldout = {r["file"]: r["heldout_top1"] for r in recipe["ingredients"]}
    assert heldout == pytest.approx({"a.safetensors": 96, "b.safetensors": 95, "c.safetensors": 93,
                                     "d.safetensors": 92})


def test_a_killed_greedy_run_resumes_from_its_state_file_and_measures_only_what_is_missing(ingredients, tmp_path,
                                                                                          monkeypatch):
    paths = [str(ingredients[k]) for k in "abcd"]
    out = tmp_path / "resumed.safetensors"
    config = SoupConfig(ingredients=paths, out=str(out), method="greedy", eval="demo:photo@val", progress=False)

    class Killed(FakeHeldOut):
        calls = 0

        def top1(self, model):
            if type(self).calls == 5:  # four ingredients and the first candidate measured, then killed
                raise KeyboardInterrupt
            return super().top1(model)

    monkeypatch.setattr(soup_module, "HeldOut", Killed)
    with pytest.raises(KeyboardInterrupt):
        run_soup(config)
    assert not out.exists()
    state = json.loads((tmp_path / "resumed.safetensors.soup-state.json").read_text())
    assert len(state["heldout"]) == 4 and len(state["steps"]) == 1
    FakeHeldOut.calls = 0
    monkeypatch.setattr(soup_module, "HeldOut", FakeHeldOut)
    made = run_soup(config)
    assert FakeHeldOut.calls == 2  # the two candidates not measured before the kill
    assert made.weights == [0.5, 0.0, 0.0, 0.5]


@pytest.mark.parametrize(("argv", "message"), [
    (["--method", "greedy"], "--method greedy needs a held-out --eval SPEC"),
    (["--method", "greedy", "--eval", "demo:photo", "--test", "demo:photo@test"], "is also a --test set"),
    (["--eval", "folder=/data/x", "--test", "folder=/data/x/"], "must differ from every test set"),
])
def test_a_held_out_set_that_is_missing_or_also_a_test_set_is_a_one_line_error(ingredients, tmp_path, capsys, argv,
                                                                              message):
    paths = [str(ingredients[k]) for k in "ab"]
    assert main(["soup", *paths, "--out", str(tmp_path / "s.safetensors"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.strip().count("\n") == 0
    assert not (tmp_path / "s.safetensors").exists()


def test_the_same_file_twice_is_refused(ingredients):
    with pytest.raises(WiseftError, match="is the same file as"):
        soup_module.Ingredients([str(ingredients["a"]), str(ingredients["b"]), str(ingredients["a"])], None)


def test_cli_greedy_soup_on_real_images_then_wise_ft_on_the_soup(ingredients, tiny_pair_files, tmp_path, capsys):
    zs, _, meta = tiny_pair_files
    heldout = image_folder(tmp_path / "val", meta.classnames, per_class=2, seed=5)
    test = image_folder(tmp_path / "test", meta.classnames, per_class=2, seed=6)
    out = tmp_path / "soup.safetensors"
    paths = [str(ingredients[k]) for k in "abc"]
    assert main(["soup", "--method", "greedy", *paths, "--eval", f"folder={heldout}", "--test", f"folder={test}",
                 "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: greedy soup of" in printed and f"folder={test}" in printed
    recipe = read_meta(out).recipe
    assert sum(r["weight"] for r in recipe["ingredients"]) == pytest.approx(1.0)
    assert set(recipe["test_top1"]) == {f"folder={test}"} and 0 <= recipe["heldout_top1"] <= 100
    merged = tmp_path / "wiseft-on-soup.safetensors"
    assert main(["interpolate", "--zeroshot", str(zs), "--finetuned", str(out), "--alpha", "0.5",
                 "--out", str(merged)]) == 0
    assert read_meta(merged).recipe["finetuned_sha256"] == load_classifier(out).sha256


def test_an_endpoint_set_shares_memory_with_its_models_and_mixes_them_live(ingredients):
    from wiseft_core.engine.endpoint_set import load_endpoint_set

    paths = [ingredients[k] for k in "abc"]
    models = load_endpoint_set(paths)
    stack = models.endpoints.stack[torch.float32]
    start, end = stack.data_ptr(), stack.data_ptr() + stack.numel() * 4
    assert all(start <= p.data_ptr() < end for c in models.classifiers for p in c.model.parameters())
    live = models.new_interpolator()
    live.set_weights((0.2, 0.3, 0.5))
    thetas = states(paths)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    reference = load_classifier(paths[0]).model
    reference.load_state_dict({k: 0.2 * thetas[0][k] + 0.3 * thetas[1][k] + 0.5 * thetas[2][k] for k in thetas[0]})
    torch.testing.assert_close(live.model(x), reference(x), atol=1e-5, rtol=0)
