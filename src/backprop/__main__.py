"""``python -m backprop``: the command line (see ``backprop.faces.cli``)."""
from ._allocator import tune
from .faces.cli import main

if __name__ == "__main__":
    tune()                       # the command owns its process: keep large temporaries in the heap
    raise SystemExit(main())
