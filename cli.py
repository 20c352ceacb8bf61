"""Entry script for a checkout: ``python cli.py build ...`` runs the same click group as ``datagen``."""

from datagen.cli import main

if __name__ == "__main__":
    main()
