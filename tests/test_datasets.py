import json

import pytest
from PIL import Image
from wiseft_test_data import image_folder, write_image

from wiseft_core.data import projections
from wiseft_core.data.datasets import default_reference, load_dataset, matches, parse_spec
from wiseft_core.errors import WiseftError

WNIDS = projections.imagenet_wnids()


def labels_by_folder(loaded):
    return {path.split("/")[-2]: label for path, label in loaded.images.samples}


def test_imagenet_wnid_folders_get_their_standard_class_index(tmp_path):
    root = image_folder(tmp_path / "val", [WNIDS[0], WNIDS[417], WNIDS[999]], per_class=2, ext=".JPEG")
    loaded = load_dataset(f"imagenet={tmp_path}")  # DIR with val/ inside
    assert len(loaded) == 6 and loaded.projection is None
    assert labels_by_folder(loaded) == {WNIDS[0]: 0, WNIDS[417]: 417, WNIDS[999]: 999}
    assert loaded.classnames[0] == "tench" and len(loaded.classnames) == 1000
    image, label = loaded.images[0]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and label == 0
    assert load_dataset(f"imagenet={root}").spec == f"imagenet={root}"


def test_imagenet_v2_index_folders_are_class_indices(tmp_path):
    loaded = load_dataset(f"imagenet-v2={image_folder(tmp_path, ['0', '7', '999'], per_class=1)}")
    assert sorted(labels_by_folder(loaded).items()) == [("0", 0), ("7", 7), ("999", 999)]


def test_imagenet_r_labels_index_its_200_classes_and_keep_their_logit_columns(tmp_path):
    r = projections.imagenet_r_indices()
    folders = [WNIDS[r[0]], WNIDS[r[5]], WNIDS[r[199]]]
    loaded = load_dataset(f"imagenet-r={image_folder(tmp_path, folders, per_class=1)}")
    assert labels_by_folder(loaded) == {folders[0]: 0, folders[1]: 5, folders[2]: 199}
    assert loaded.projection.num_outputs == 200 and loaded.num_model_classes == 1000
    assert loaded.classnames[5] == load_dataset(f"imagenet={tmp_path}").classnames[r[5]]


def test_imagenet_a_rejects_a_class_it_does_not_cover(tmp_path):
    outside = next(w for i, w in enumerate(WNIDS) if i not in set(projections.imagenet_a_indices()))
    image_folder(tmp_path, [outside], per_class=1)
    with pytest.raises(WiseftError, match=rf"unexpected layout.*{outside}.*200 imagenet-a classes"):
        load_dataset(f"imagenet-a={tmp_path}")


def test_objectnet_keeps_the_113_overlapping_folders_crops_the_border_and_maps_with_max(tmp_path):
    names = list(projections.objectnet_mapping())
    image_folder(tmp_path / "images", [names[0], names[112], "not_in_imagenet"], per_class=1)
    loaded = load_dataset(f"objectnet={tmp_path}")
    assert len(loaded) == 2 and loaded.crop_border == 2
    assert labels_by_folder(loaded) == {names[0]: 0, names[112]: 112}
    assert loaded.projection.num_outputs == 113 and len(loaded.classnames) == 113


def test_folder_spec_uses_sorted_folders_and_optional_classnames(tmp_path):
    image_folder(tmp_path, ["b_dog", "a_cat"], per_class=1)
    assert load_dataset(f"folder={tmp_path}").classnames == ["a_cat", "b_dog"]
    (tmp_path / "classnames.txt").write_text("cat\ndog\n")
    loaded = load_dataset(f"folder={tmp_path}")
    assert loaded.classnames == ["cat", "dog"] and labels_by_folder(loaded) == {"a_cat": 0, "b_dog": 1}
    loaded.check_classifier_width(2)
    with pytest.raises(WiseftError, match="needs a classifier with 2 outputs"):
        loaded.check_classifier_width(1000)


def test_csv_spec_reads_relative_paths_and_integer_labels(tmp_path):
    write_image(tmp_path / "imgs" / "x.png", seed=1)
    write_image(tmp_path / "imgs" / "y.png", seed=2)
    (tmp_path / "list.csv").write_text("path,label\nimgs/x.png,3\nimgs/y.png,0\n")
    loaded = load_dataset(f"csv={tmp_path / 'list.csv'}")
    assert [label for _, label in loaded.images.samples] == [3, 0]
    assert loaded.images[0][0].size == (36, 36)
    loaded.check_classifier_width(10)  # labels only bound the width without classnames.txt
    with pytest.raises(WiseftError, match="needs a classifier with 4 outputs"):
        loaded.check_classifier_width(3)
    (tmp_path / "bad.csv").write_text("imgs/x.png,cat\n")
    with pytest.raises(WiseftError, match="line 1: label must be an integer"):
        load_dataset(f"csv={tmp_path / 'bad.csv'}")


@pytest.mark.parametrize("spec, message", [
    ("imagenet", "expected NAME=PATH"),
    ("places=/x", "expected NAME=PATH"),
    ("imagenet-r=/does/not/exist", r"folder not found: /does/not/exist \(expected layout: <wnid>"),
])
def test_bad_specs_and_missing_folders_get_one_clear_message(spec, message):
    with pytest.raises(WiseftError, match=message):
        load_dataset(spec)


def test_a_flat_folder_of_images_is_a_layout_error_naming_the_expected_layout(tmp_path):
    write_image(tmp_path / "a.png", seed=0)
    (tmp_path / "misc").mkdir()
    with pytest.raises(WiseftError, match=r"unexpected layout in .*misc.*expected <wnid>/\*\.JPEG"):
        load_dataset(f"imagenet={tmp_path}")
    with pytest.raises(WiseftError, match="class-index folders 0/ .. 999/"):
        load_dataset(f"imagenet-v2={tmp_path}")


def test_an_unreadable_image_raises_per_item_not_at_load_time(tmp_path):
    image_folder(tmp_path, ["0"], per_class=1)
    (tmp_path / "0" / "broken.jpg").write_bytes(b"not an image")
    loaded = load_dataset(f"imagenet-v2={tmp_path}")
    assert len(loaded) == 2
    broken = loaded.paths.index(str(tmp_path / "0" / "broken.jpg"))
    with pytest.raises(WiseftError):
        loaded.images[broken]


def test_demo_specs_resolve_to_the_demo_world():
    loaded = load_dataset("demo:sketch")
    from wiseft_core.data import world

    assert loaded.classnames == list(world.CLASSNAMES) and len(loaded) >= 2000
    image, label = loaded.images[3]
    assert isinstance(image, Image.Image) and 0 <= label < len(world.CLASSNAMES)
    with pytest.raises(WiseftError, match="demo:nowhere"):
        load_dataset("demo:nowhere")
    val = load_dataset("demo:photo@val")
    assert val.spec == "demo:photo@val" and len(val) == len(world.demo_dataset("photo", split="val"))
    assert val.images[0][0].tobytes() != load_dataset("demo:photo").images[0][0].tobytes()


def test_reference_defaults_to_imagenet_or_demo_photo_and_matches_by_name():
    assert default_reference(["imagenet-r=/r", "imagenet=/val"]) == "imagenet=/val"
    assert default_reference(["demo:sketch", "demo:photo"]) == "demo:photo"
    assert default_reference(["folder=/a", "folder=/b"]) == "folder=/a"
    assert matches("imagenet=/val", "imagenet") and matches("demo:photo", "demo:photo")
    assert not matches("imagenet-r=/r", "imagenet")
    assert parse_spec("objectnet=/data/on") == ("objectnet", "/data/on")


def test_shift_mappings_agree_with_the_assets():
    a = json.loads((projections.SHIFTS_DIR / "imagenet_a_class_indices.json").read_text())
    assert projections.imagenet_a_indices() == a


def test_folders_are_labelled_by_the_heads_class_names_not_their_sorted_order(tmp_path):
    image_folder(tmp_path, ["Cat", "hot_dog", "zebra"], per_class=1)
    loaded = load_dataset(f"folder={tmp_path}")
    assert labels_by_folder(loaded) == {"Cat": 0, "hot_dog": 1, "zebra": 2}  # sorted order before matching
    loaded.check_classifier_width(3, ["zebra", "hot dog", "cat"])
    assert labels_by_folder(loaded) == {"Cat": 2, "hot_dog": 1, "zebra": 0}
    assert loaded.classnames == ["zebra", "hot dog", "cat"]
    loaded.check_classifier_width(3, ["zebra", "hot dog", "cat"])  # matching again changes nothing
    assert labels_by_folder(loaded) == {"Cat": 2, "hot_dog": 1, "zebra": 0}


def test_folders_that_do_not_match_the_head_are_refused_with_the_differences(tmp_path):
    image_folder(tmp_path, ["cat", "dog", "wolf"], per_class=1)
    loaded = load_dataset(f"folder={tmp_path}")
    with pytest.raises(WiseftError) as info:
        loaded.check_classifier_width(3, ["cat", "dog", "bird"])
    message = str(info.value)
    assert "\n" not in message
    assert "folders without a class: 'wolf'; classes without a folder: 'bird'" in message
    with pytest.raises(WiseftError, match="class names repeat a name"):
        load_dataset(f"folder={tmp_path}").check_classifier_width(3, ["cat", "Cat", "dog"])
    load_dataset(f"folder={tmp_path}").check_classifier_width(3)  # no names given: width only, as before


def test_a_folder_dataset_in_another_order_scores_what_its_labels_say(tmp_path, tiny_pair_files):
    """The issue's case: sorted folder order differs from the head's; accuracy must follow the names."""
    import numpy as np
    import torch

    from wiseft_core.engine.pair import load_pair
    from wiseft_core.inspection.along_alpha import along_alpha

    zs, ft, meta = tiny_pair_files
    folders = [name.upper() for name in meta.classnames]  # CAT, DOG, ... sort differently from the head
    image_folder(tmp_path, folders, per_class=2)
    pair = load_pair(zs, ft)
    (result,) = along_alpha(pair, load_dataset(f"folder={tmp_path}"), [0.0], ("weights",), batch_size=4)
    transform, model = pair.preprocessing.eval_transform(), pair.endpoint_model(0)
    correct = total = 0
    for folder in folders:
        head_index = [n.upper() for n in meta.classnames].index(folder)
        for image in sorted((tmp_path / folder).iterdir()):
            with torch.no_grad():
                logits = model(transform(Image.open(image).convert("RGB"))[None])
            correct += int(logits.argmax().item() == head_index)
            total += 1
    assert result.n == total == 10
    assert np.isclose(result.top1[0], 100.0 * correct / total)
