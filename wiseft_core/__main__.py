"""``python -m wiseft_core`` (and ``torchrun -m wiseft_core``) runs the CLI."""

from wiseft_core.cli.dispatch import main

if __name__ == "__main__":
    raise SystemExit(main())
