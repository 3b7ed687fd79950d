"""WiSE-FT Explorer's library: the public map.

Robust fine-tuning of zero-shot models (Wortsman et al., CVPR 2022): build a zero-shot classifier, fine-tune it,
then mix the two in weight space, ``theta(alpha) = (1 - alpha) * theta_zeroshot + alpha * theta_finetuned``.

    import wiseft_core as wf
    pair = wf.load_pair("zeroshot.safetensors", "finetuned.safetensors")
    live = pair.new_interpolator(); live.set_alpha(0.5)          # one merged model, no extra inference cost
    probs = wf.predict_probs(live.model, images, pair.preprocessing)

The packages follow the data, bottom to top: ``files`` (formats, safe reading) -> ``engine`` (the interpolation
engine, a pair) -> ``data`` (datasets, the demo world) -> ``evaluate`` -> ``train`` -> ``inspection`` -> ``serve``
(what the app needs) -> ``plots`` -> ``demo`` (the demo build) -> ``talk`` -> ``cli``. Names are resolved on first
use, so ``import wiseft_core`` stays cheap (no torch until a name is used).
"""

from __future__ import annotations

import importlib

# public name -> the module that is its one home
_HOMES = {
    "WiseftError": "wiseft_core.errors",
    "CheckpointMeta": "wiseft_core.files.checkpoints",
    "LoadedClassifier": "wiseft_core.files.checkpoints",
    "load_classifier": "wiseft_core.files.checkpoints",
    "save_classifier": "wiseft_core.files.checkpoints",
    "read_meta": "wiseft_core.files.checkpoints",
    "read_as_checkpoint": "wiseft_core.files.wiseft_import",
    "ClassifierPair": "wiseft_core.engine.pair",
    "load_pair": "wiseft_core.engine.pair",
    "make_pair": "wiseft_core.engine.pair",
    "interpolate_state_dicts": "wiseft_core.engine.interpolation",
    "ensemble_outputs": "wiseft_core.engine.interpolation",
    "WeightEndpoints": "wiseft_core.engine.interpolation",
    "WeightInterpolator": "wiseft_core.engine.interpolation",
    "mix_state_dicts": "wiseft_core.engine.interpolation",
    "EndpointSet": "wiseft_core.engine.endpoint_set",
    "load_endpoint_set": "wiseft_core.engine.endpoint_set",
    "make_spec": "wiseft_core.engine.merge_methods",
    "SoupConfig": "wiseft_core.evaluate.soup",
    "run_soup": "wiseft_core.evaluate.soup",
    "predict_probs": "wiseft_core.engine.predict",
    "top_k": "wiseft_core.engine.predict",
    "load_dataset": "wiseft_core.data.datasets",
    "build_zeroshot_checkpoint": "wiseft_core.train.zeroshot",
    "FinetuneConfig": "wiseft_core.train.finetune",
    "finetune": "wiseft_core.train.finetune",
    "SweepConfig": "wiseft_core.evaluate.sweep",
    "run_sweep": "wiseft_core.evaluate.sweep",
    "along_alpha": "wiseft_core.inspection.along_alpha",
    "measure_path": "wiseft_core.inspection.landscape",
    "explain": "wiseft_core.inspection.saliency",
    "weight_diff": "wiseft_core.inspection.weight_diff",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'wiseft_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
