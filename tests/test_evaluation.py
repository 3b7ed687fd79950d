import copy

import pytest
import torch
from wiseft_test_data import image_folder, write_image

from wiseft_core.data import projections
from wiseft_core.data.datasets import LoadedDataset, load_dataset
from wiseft_core.engine.interpolation import WeightEndpoints, WeightInterpolator, interpolate_state_dicts
from wiseft_core.evaluate import evaluation
from wiseft_core.files.images import open_image


@pytest.fixture
def labelled_csv(tmp_path, tiny_vit):
    """12 images whose first 9 labels are the model's own predictions and last 3 are wrong: 75 % top-1."""
    classifier, meta, _ = tiny_vit
    paths = [write_image(tmp_path / f"img_{i}.png", seed=i) for i in range(12)]
    transform = meta.preprocessing.eval_transform()
    with torch.no_grad():
        batch = torch.stack([transform(open_image(p)) for p in paths])
        predictions = classifier(batch).argmax(dim=1).tolist()
    labels = [p if i < 9 else (p + 1) % 5 for i, p in enumerate(predictions)]
    lines = ["path,label"] + [f"{p.name},{label}" for p, label in zip(paths, labels, strict=True)]
    (tmp_path / "classnames.txt").write_text("\n".join(meta.classnames) + "\n")
    (tmp_path / "set.csv").write_text("\n".join(lines) + "\n")
    return f"csv={tmp_path / 'set.csv'}", predictions


def test_accuracy_on_known_labels_counts_exactly_the_matching_predictions(labelled_csv, tiny_vit):
    classifier, meta, _ = tiny_vit
    loaded = load_dataset(labelled_csv[0])
    batches = evaluation.iterate_batches(loaded, meta.preprocessing.eval_transform(), batch_size=5)
    correct, n = evaluation.accuracy(classifier, batches, loaded, torch.device("cpu"))
    assert (correct, n) == (9, 12)
    assert evaluation.percent(correct, n) == 75.0


def test_unreadable_images_are_skipped_and_reported_with_their_paths(labelled_csv, tiny_vit, tmp_path, capsys):
    classifier, meta, _ = tiny_vit
    (tmp_path / "broken.png").write_bytes(b"\x89PNG truncated")
    with open(tmp_path / "set.csv", "a") as handle:
        handle.write("broken.png,0\n")
    loaded = load_dataset(labelled_csv[0])
    cache = evaluation.BatchCache(loaded, meta.preprocessing.eval_transform(), batch_size=4, workers=0)
    correct, n = evaluation.accuracy(classifier, cache, loaded, torch.device("cpu"))
    assert (correct, n) == (9, 12)
    assert cache.unreadable.count == 1 and cache.unreadable.first == [str(tmp_path / "broken.png")]
    cache.unreadable.warn(loaded.spec)
    assert "skipped 1 unreadable image(s)" in capsys.readouterr().err
    # The second pass comes from memory and gives the same numbers.
    assert evaluation.accuracy(classifier, cache, loaded, torch.device("cpu")) == (9, 12)


def test_scoring_applies_the_dataset_projection_before_the_argmax():
    loaded = LoadedDataset(spec="imagenet-r=/x", kind="imagenet-r", images=[], classnames=["a"] * 200,
                           projection=projections.imagenet_r_projection(), num_model_classes=1000)
    r = projections.imagenet_r_indices()
    logits = torch.zeros(2, 1000)
    logits[:, 0] = 100.0  # class 0 is not an ImageNet-R class: it must not win
    logits[0, r[7]] = 5.0
    logits[1, r[3]] = 5.0
    assert evaluation.score(logits, torch.tensor([7, 4]), loaded)[0] == 1


def test_objectnet_border_is_cropped_before_preprocessing(tmp_path):
    names = list(projections.objectnet_mapping())
    image_folder(tmp_path / "images", [names[0]], per_class=1)
    loaded = load_dataset(f"objectnet={tmp_path}")
    prepared = evaluation.PreparedImages(loaded, transform=lambda image: torch.tensor(image.size))
    assert prepared[0][0].tolist() == [32, 32]  # 36 x 36 minus 2 px per side


def test_weight_space_accuracies_use_the_engine_and_match_a_merged_model(labelled_csv, tiny_vit):
    classifier, meta, _ = tiny_vit
    theta0 = classifier.state_dict()
    theta1 = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v for k, v in theta0.items()}
    interpolator = WeightInterpolator(WeightEndpoints(theta0, theta1), copy.deepcopy(classifier))
    loaded = load_dataset(labelled_csv[0])
    batches = evaluation.BatchCache(loaded, meta.preprocessing.eval_transform(), batch_size=8, workers=0)
    device = torch.device("cpu")
    swept = list(evaluation.weight_space_accuracies(interpolator, [0.0, 0.5], batches, loaded, device))
    merged = copy.deepcopy(classifier)
    merged.load_state_dict(interpolate_state_dicts(theta0, theta1, 0.5))
    assert swept[0] == (0.0, 9, 12)
    assert swept[1] == (0.5, *evaluation.accuracy(merged, batches, loaded, device))


def test_output_ensemble_at_alpha_zero_and_one_reproduces_each_endpoint(labelled_csv, tiny_vit):
    classifier, meta, _ = tiny_vit
    other = copy.deepcopy(classifier)
    with torch.no_grad():
        other.head.weight.copy_(torch.roll(other.head.weight, 1, dims=0))  # predicts the "next" class
    loaded = load_dataset(labelled_csv[0])
    batches = evaluation.BatchCache(loaded, meta.preprocessing.eval_transform(), batch_size=8, workers=0)
    device = torch.device("cpu")
    triples = evaluation.output_space_accuracies(classifier, other, [0.0, 1.0], batches, loaded, device)
    assert triples[0] == (0.0, 9, 12)
    assert triples[1] == (1.0, *evaluation.accuracy(other, batches, loaded, device))
