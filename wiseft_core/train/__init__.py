"""Making the endpoints: zero-shot heads from a CLIP's text tower, fine-tuning (end-to-end or linear), DDP."""
