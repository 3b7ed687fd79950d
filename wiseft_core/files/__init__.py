"""What comes in: checkpoint formats, reading untrusted files safely (no code runs), other projects' layouts, images."""
