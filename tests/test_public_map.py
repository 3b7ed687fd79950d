"""The package's public map: every advertised name resolves to its one home, and the docstring's example runs."""

import subprocess
import sys

import pytest
import torch
from PIL import Image

import wiseft_core


@pytest.mark.parametrize("name", wiseft_core.__all__)
def test_every_public_name_resolves_to_the_object_in_its_home_module(name):
    import importlib

    home = importlib.import_module(wiseft_core._HOMES[name])
    assert getattr(wiseft_core, name) is getattr(home, name)


def test_an_unknown_name_is_an_attribute_error_not_an_import():
    with pytest.raises(AttributeError, match="no attribute 'interpolate_everything'"):
        wiseft_core.interpolate_everything  # noqa: B018


def test_importing_the_package_does_not_import_torch():
    code = "import sys, wiseft_core; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_the_docstring_example_gives_the_merge_of_the_two_endpoints(tiny_pair_files):
    zs, ft, _ = tiny_pair_files
    pair = wiseft_core.load_pair(zs, ft)
    live = pair.new_interpolator()
    live.set_alpha(0.5)
    images = [Image.new("RGB", (40, 40), (200, 30, 30))]
    probs = wiseft_core.predict_probs(live.model, images, pair.preprocessing)
    theta0, theta1 = pair.zeroshot.model.state_dict(), pair.finetuned.model.state_dict()
    merged = wiseft_core.interpolate_state_dicts(theta0, theta1, 0.5)
    reference = pair.new_interpolator()
    reference.model.load_state_dict(merged)
    expected = wiseft_core.predict_probs(reference.model, images, pair.preprocessing)
    assert probs.shape == (1, len(pair.classnames))
    torch.testing.assert_close(probs, expected, atol=1e-6, rtol=0)
