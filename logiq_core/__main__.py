"""``python -m logiq_core`` runs the same CLI as the ``logiq`` console script."""

from logiq_core.cli import main

if __name__ == "__main__":
    main()
