"""The interpolation engine: block names, the per-tensor rule, flat shared endpoints, a pair, predictions."""
