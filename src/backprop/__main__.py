"""``python -m backprop``: the command line (see ``backprop.faces.cli``)."""
from .faces.cli import run

if __name__ == "__main__":
    run()
