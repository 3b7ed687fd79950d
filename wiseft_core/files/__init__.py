"""Models in: checkpoint formats, reading untrusted files safely (no code runs), other projects' layouts (wise-ft,
model soups, Hugging Face), model sources, zero-shot heads, class names, templates and images."""
