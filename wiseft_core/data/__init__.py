"""Labelled images: the NAME=PATH dataset registry, ImageNet-shift projections and the demo world's generator."""
