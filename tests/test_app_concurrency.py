"""Several viewers at different alphas at once: each must see exactly the predictions of its own alpha.

The app shares one loaded pair (read-only endpoints) across sessions and gives each session its
own live interpolator; these tests check that design under real thread concurrency (library
level, the same calls the Playground makes) and with eight real browser sessions of one server.
"""

from __future__ import annotations

import threading

import pytest
import torch
from app_pair import (
    APP,
    CHROMIUM,
    CHROMIUM_ARGS,
    png_bytes,
    require_browser,
    server_app_args,
    streamlit_server,
)

from wiseft_core.demo.assets import DEMO_SAMPLES, demo_pair_available
from wiseft_core.engine.pair import load_pair
from wiseft_core.engine.predict import to_batch
from wiseft_core.files.images import open_image
from wiseft_core.serve import alpha_grid
from wiseft_core.serve.interpolator_pool import InterpolatorPool

ALPHAS = [-0.5, -0.25, 0.1, 0.35, 0.6, 0.85, 1.15, 1.3]


@pytest.fixture(scope="module")
def shared_pair(app_pair):
    return load_pair(*app_pair)


def reference_logits(pair, batch: torch.Tensor) -> dict[float, torch.Tensor]:
    """Single-threaded, one fresh interpolator per alpha."""
    return {a: alpha_grid.live_weight_space_logits(pair.new_interpolator(), batch, a) for a in ALPHAS}


def test_eight_threads_at_eight_alphas_each_get_exactly_their_own_alphas_logits(shared_pair):
    pair = shared_pair
    batch = to_batch([open_image(png_bytes()), open_image(png_bytes((20, 90, 200)))], pair.preprocessing)
    expected = reference_logits(pair, batch)
    interpolators = [pair.new_interpolator() for _ in ALPHAS]
    barrier = threading.Barrier(len(ALPHAS))
    results: dict[float, list[torch.Tensor]] = {a: [] for a in ALPHAS}
    failures: list[BaseException] = []

    def viewer(interpolator, alpha: float) -> None:
        try:
            for _ in range(6):
                barrier.wait(timeout=60)  # everyone moves their slider at the same moment
                results[alpha].append(alpha_grid.live_weight_space_logits(interpolator, batch, alpha))
        except BaseException as err:  # reported below
            failures.append(err)

    threads = [threading.Thread(target=viewer, args=(i, a)) for i, a in zip(interpolators, ALPHAS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    for alpha in ALPHAS:
        assert len(results[alpha]) == 6
        for logits in results[alpha]:
            # (1e-5: concurrent GEMMs differ in the last bits; another alpha's logits are ~1e-1 away)
            torch.testing.assert_close(logits, expected[alpha], rtol=0, atol=1e-5, equal_nan=True)
            assert torch.equal(logits.argmax(-1), expected[alpha].argmax(-1))
    # and the shared endpoints were never written: alpha 0 / 1 still give the endpoint models' logits
    torch.testing.assert_close(expected[ALPHAS[2]], alpha_grid.live_weight_space_logits(
        pair.new_interpolator(), batch, ALPHAS[2]), rtol=0, atol=0)
    torch.testing.assert_close(alpha_grid.forward_logits(pair.zeroshot.model, batch),
                               alpha_grid.live_weight_space_logits(pair.new_interpolator(), batch, 0.0),
                               rtol=0, atol=1e-6)


def test_eight_viewers_sharing_a_pool_of_two_live_models_each_get_exactly_their_own_alphas_logits(shared_pair):
    """The app's path: off-grid alphas through ``logits_at`` on a pool smaller than the number of viewers."""
    pair = shared_pair
    batch = to_batch([open_image(png_bytes()), open_image(png_bytes((20, 90, 200)))], pair.preprocessing)
    expected = reference_logits(pair, batch)
    pool = InterpolatorPool(pair.new_interpolator, size=2)
    grids = [alpha_grid.PartialGrid(len(pair.classnames)) for _ in range(batch.shape[0])]
    barrier = threading.Barrier(len(ALPHAS))
    results: dict[float, list[torch.Tensor]] = {a: [] for a in ALPHAS}
    failures: list[BaseException] = []

    def viewer(alpha: float) -> None:
        try:
            for _ in range(6):
                barrier.wait(timeout=60)
                results[alpha].append(alpha_grid.logits_at(pool, (pair.zeroshot.model, pair.finetuned.model), batch,
                                                           grids, alpha).logits)
        except BaseException as err:  # reported below
            failures.append(err)

    threads = [threading.Thread(target=viewer, args=(a,)) for a in ALPHAS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert pool.created <= 2
    for alpha in ALPHAS:
        for logits in results[alpha]:
            torch.testing.assert_close(logits, expected[alpha], rtol=0, atol=1e-5, equal_nan=True)


SESSION_ALPHAS = [-0.45, -0.35, -0.25, -0.15, 1.1, 1.2, 1.3, 1.4]  # off the [0, 1] grid, and so are their +0.05
ROUNDS = 3


SHOWN_JS = """() => [...document.querySelectorAll('[data-wiseft-shown]')].map(e => ({
    alpha: parseFloat(e.dataset.alpha), mode: e.dataset.mode, image: e.dataset.image,
    probs: JSON.parse(e.dataset.probs)}))"""  # what a session's browser received: alpha and exact probabilities


def marker_at(alpha: float) -> str:
    """JS that is truthy once the page shows predictions at ``alpha``."""
    return f"() => document.querySelector('[data-wiseft-shown][data-alpha=\"{alpha:g}\"]')"


def expected_probs(pair, images: list[str], alpha: float) -> torch.Tensor:
    """A fresh, single-threaded interpolation at ``alpha`` on the same images (the gallery files)."""
    paths = {p.stem: p for p in DEMO_SAMPLES.rglob("*.png")}
    batch = to_batch([open_image(paths[key]) for key in images], pair.preprocessing)
    return alpha_grid.live_weight_space_logits(pair.new_interpolator(), batch, alpha).softmax(-1)


@pytest.mark.slow
@pytest.mark.browser
def test_eight_browser_sessions_moving_off_grid_alphas_at_once_each_see_only_their_own_alpha(
        shared_pair, app_pair, tmp_path):
    """Eight real sessions of one server, slider moves fired at the same moment, every alpha off the grid.

    Off-grid alphas take the live path (interpolate + forward), where sessions could write one
    another's weights; a mutation that gives every session the same live model makes this test fail.
    """
    import asyncio

    require_browser()
    if not demo_pair_available():
        pytest.skip("needs the demo pair's gallery samples (assets/demo)")
    from playwright.async_api import async_playwright

    async def session(browser, base: str, alpha: float) -> list[list[dict]]:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        page.set_default_timeout(240_000)  # 8 pages on a 2-core machine: about 30 s when idle
        await page.goto(f"{base}/playground?alpha={alpha:g}")
        await page.wait_for_function(marker_at(alpha))
        seen = [await page.evaluate(SHOWN_JS)]
        return page, context, seen

    async def move(page, alpha: float, seen: list, step: int) -> None:
        slider = page.get_by_role("slider").first
        await slider.focus()
        await slider.press("ArrowRight" if step % 2 else "ArrowLeft")
        target = round(alpha + (0.05 if step % 2 else 0.0), 2)
        await page.wait_for_function(marker_at(target))
        seen.append(await page.evaluate(SHOWN_JS))

    async def main(base: str) -> list[list[list[dict]]]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            opened = await asyncio.gather(*(session(browser, base, a) for a in SESSION_ALPHAS))
            for step in range(1, ROUNDS + 1):  # every session moves at the same moment, then waits for its answer
                await asyncio.gather(*(move(page, alpha, seen, step)
                                       for (page, _, seen), alpha in zip(opened, SESSION_ALPHAS)))
            results = [seen for _, _, seen in opened]
            await browser.close()
            return results

    with streamlit_server(APP, tmp_path / "server.log", server_app_args(app_pair)) as base:
        results = asyncio.run(main(base))
    checked = 0
    for alpha, seen in zip(SESSION_ALPHAS, results, strict=True):
        for markers in seen:
            assert markers, "no prediction markers on the page"
            shown_alpha = markers[0]["alpha"]
            assert shown_alpha in (alpha, round(alpha + 0.05, 2))
            expected = expected_probs(shared_pair, [m["image"] for m in markers], shown_alpha)
            got = torch.tensor([m["probs"] for m in markers])
            torch.testing.assert_close(got, expected, rtol=0, atol=2e-6)
            checked += 1
    assert checked == len(SESSION_ALPHAS) * (ROUNDS + 1)
