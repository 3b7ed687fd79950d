"""open_clip-based forks of wise-ft (``image_encoder.model.visual.*`` around open_clip's CLIP) with GELU towers.

The state dict of such a fork is key for key the reference code's (OpenAI CLIP, QuickGELU), so the file
cannot say which activation it was trained with: it is refused with the option to name it, never built
silently as QuickGELU. A pickled model names its activation class, and a checkpoint dict may carry the
open_clip config or model name; both are read. Reference: open_clip's own forward of the same weights.
"""

from __future__ import annotations

import copy

import open_clip
import pytest
import torch
import wiseft_reference as ref
from layout_checks import assert_matches_theirs, our_probabilities

from wiseft_core.engine.pair import load_pair
from wiseft_core.errors import WiseftError
from wiseft_core.files.reader import load_classifier

CLASSES = ["cat", "dog", "bird", "fish", "horse"]
TINY = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 2, "width": 128, "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 100, "width": 32, "heads": 2, "layers": 1}}


def fork_classifier(seed: int, quick_gelu: bool = False) -> ref.ImageClassifier:
    """A fork's ImageClassifier: wise-ft's wrapper around open_clip's CLIP (GELU unless quick_gelu)."""
    torch.manual_seed(seed)
    clip_model = open_clip.model.CLIP(**TINY, quick_gelu=quick_gelu).eval()
    clip_model.visual.input_resolution = TINY["vision_cfg"]["image_size"]  # what wise-ft's ImageEncoder reads
    encoder = ref.ImageEncoder(clip_model)
    weights = torch.nn.functional.normalize(torch.randn(len(CLASSES), TINY["embed_dim"]), dim=-1) * 100
    return ref.ImageClassifier(encoder, ref.ClassificationHead(normalize=True, weights=weights)).eval()


def moved(classifier: ref.ImageClassifier, seed: int) -> ref.ImageClassifier:
    model = copy.deepcopy(classifier)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.02 * torch.randn(tensor.shape, generator=generator))
    return model.eval()


@pytest.fixture(scope="module")
def fork(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fork")
    zeroshot = fork_classifier(0)
    finetuned = moved(zeroshot, 1)
    torch.save(zeroshot.state_dict(), folder / "zeroshot_sd.pt")
    torch.save(finetuned.state_dict(), folder / "finetuned_sd.pt")
    torch.save({"state_dict": zeroshot.state_dict(), "model_name": "fork-vit", "model_config": {**TINY,
                "quick_gelu": False}}, folder / "zeroshot_with_config.pt")
    torch.save({"state_dict": zeroshot.state_dict(), "model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"},
               folder / "zeroshot_with_name.pt")
    ref.save_torch_model(zeroshot, folder / "zeroshot_model.pt")
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    return {"folder": folder, "zeroshot": zeroshot, "finetuned": finetuned, "images": images}


@torch.no_grad()
def test_a_fork_state_dict_is_never_built_with_a_guessed_activation(fork):
    with pytest.raises(WiseftError, match=r"zeroshot_sd.pt is a state dict that does not say .* --activation "
                                          r"quickgelu\|gelu"):
        load_classifier(fork["folder"] / "zeroshot_sd.pt", classnames=CLASSES)


def test_with_activation_gelu_the_fork_pair_equals_open_clips_forward_of_the_merge(fork):
    folder = fork["folder"]
    pair = load_pair(folder / "zeroshot_sd.pt", folder / "finetuned_sd.pt", classnames=CLASSES, activation="gelu")
    assert_matches_theirs(pair, fork["images"], lambda alpha: ref.logits(
        ref.merged(fork["zeroshot"], fork["finetuned"], alpha), fork["images"]).softmax(-1))


def test_the_wrong_activation_would_have_changed_the_numbers(fork):
    """Why guessing is refused: the same weights built as QuickGELU give other probabilities."""
    folder = fork["folder"]
    wrong = load_pair(folder / "zeroshot_sd.pt", folder / "finetuned_sd.pt", classnames=CLASSES,
                      activation="quickgelu")
    expected = ref.logits(fork["zeroshot"], fork["images"]).softmax(-1)
    assert (our_probabilities(wrong, 0.0, fork["images"]) - expected).abs().max().item() > 1e-5


@pytest.mark.parametrize("name", ["zeroshot_with_config.pt", "zeroshot_with_name.pt", "zeroshot_model.pt"])
def test_a_config_a_model_name_or_a_pickled_activation_class_says_gelu(fork, name):
    loaded = load_classifier(fork["folder"] / name, classnames=CLASSES)
    assert loaded.meta.quick_gelu is False
    with torch.no_grad():
        ours = loaded.model(fork["images"]).softmax(-1)
    expected = ref.logits(fork["zeroshot"], fork["images"]).softmax(-1)
    assert (ours - expected).abs().max().item() <= 1e-5


def test_an_activation_that_contradicts_the_file_is_refused(fork):
    with pytest.raises(WiseftError, match=r"says its ViT uses GELU but --activation quickgelu"):
        load_classifier(fork["folder"] / "zeroshot_model.pt", classnames=CLASSES, activation="quickgelu")


def test_a_fine_tuned_state_dict_takes_the_activation_of_its_gelu_zero_shot_side(fork):
    folder = fork["folder"]
    pair = load_pair(folder / "zeroshot_model.pt", folder / "finetuned_sd.pt", classnames=CLASSES)
    expected = ref.logits(fork["finetuned"], fork["images"]).softmax(-1)
    assert (our_probabilities(pair, 1.0, fork["images"]) - expected).abs().max().item() <= 1e-5


def test_the_cli_asks_for_activation_in_one_line_and_convert_records_it(fork, tmp_path, capsys):
    import json

    from PIL import Image
    from safetensors import safe_open

    from wiseft_core.cli.dispatch import main

    folder = fork["folder"]
    (tmp_path / "names.txt").write_text("\n".join(CLASSES) + "\n")
    Image.new("RGB", (32, 32), (90, 90, 200)).save(tmp_path / "blue.png")
    pair = ["--zeroshot", str(folder / "zeroshot_sd.pt"), "--finetuned", str(folder / "finetuned_sd.pt"),
            "--classnames", str(tmp_path / "names.txt")]
    assert main(["predict", *pair, str(tmp_path / "blue.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--activation quickgelu|gelu" in err and "Traceback" not in err
    assert main(["predict", *pair, "--activation", "gelu", str(tmp_path / "blue.png")]) == 0
    capsys.readouterr()
    assert main(["convert", str(folder / "zeroshot_sd.pt"), str(folder / "finetuned_sd.pt"), "--classnames",
                 str(tmp_path / "names.txt"), "--activation", "gelu", "--out-dir", str(tmp_path / "out")]) == 0
    for name in ("zeroshot", "finetuned"):
        with safe_open(str(tmp_path / "out" / f"{name}.safetensors"), framework="pt") as handle:
            assert json.loads(handle.metadata()["wiseft"])["model_config"]["quick_gelu"] is False
