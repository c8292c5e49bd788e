"""``python -m backprop``: the command line (see ``backprop.faces.cli``)."""
from .faces.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
