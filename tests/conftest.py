"""Shared fixtures: tiny open_clip architectures at random weights, built on the fly (no downloads)."""

from __future__ import annotations

import copy

import app_pair as app_fixtures
import pytest
import torch

from wiseft_core.files.checkpoints import save_classifier
from wiseft_core.train.zeroshot import build_zeroshot_checkpoint

TINY_VIT = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 3, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}
TINY_RESNET = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}
CLASSNAMES = ["cat", "dog", "bird", "fish", "horse"]


def make_classifier(model_name: str, config: dict, seed: int, classnames=CLASSNAMES):
    built = build_zeroshot_checkpoint(model_name, classnames, "openclip-simple", seed=seed, model_config=config)
    return built.classifier, built.meta, built.clip_model


def perturbed(state_dict: dict, seed: int, scale: float = 0.1) -> dict:
    """A stand-in for fine-tuning: every floating tensor moved by seeded noise."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in state_dict.items():
        if value.is_floating_point():
            value = value + scale * torch.randn(value.shape, generator=generator)
        out[key] = value.clone()
    return out


@pytest.fixture(scope="session")
def tiny_vit():
    classifier, meta, clip_model = make_classifier("wiseft-test-vit", TINY_VIT, seed=0)
    return classifier, meta, clip_model


@pytest.fixture(scope="session")
def tiny_pair_files(tmp_path_factory, tiny_vit):
    """(zeroshot path, finetuned path, meta) on disk; the fine-tuned side is a seeded perturbation."""
    classifier, meta, _ = tiny_vit
    folder = tmp_path_factory.mktemp("pair")
    zs, ft = folder / "zs.safetensors", folder / "ft.safetensors"
    save_classifier(zs, classifier, meta)
    save_classifier(ft, perturbed(classifier.state_dict(), seed=1), meta)
    return zs, ft, meta


@pytest.fixture
def theta_pair(tiny_vit):
    classifier, _, _ = tiny_vit
    theta0 = copy.deepcopy(classifier.state_dict())
    return theta0, perturbed(theta0, seed=1)


# The app's fixtures (a tiny random pair on disk, the app's argv), for every test module that asks by name.
app_pair = app_fixtures.app_pair
app_argv = app_fixtures.app_argv


# Browser tests: one headless Debian Chromium per module, a fresh page per test.
BROWSER_STEP_MS = 60_000  # one step of a test on a busy CPU (a page's first run imports torch and open_clip)


@pytest.fixture(scope="module")
def browser():
    app_fixtures.require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=app_fixtures.CHROMIUM, args=app_fixtures.CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    page.set_default_timeout(BROWSER_STEP_MS)
    yield page
    context.close()
