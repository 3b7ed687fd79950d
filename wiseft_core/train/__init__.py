"""Making the fine-tuned endpoint: end-to-end or linear-classifier fine-tuning, resumable, on one or N processes."""
