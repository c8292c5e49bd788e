"""The array types the op passes exchange, named once for annotations.

* ``Array``   a float array: a node's values (B, width), an adjoint, a parameter view
* ``Maybe``   a tangent or adjoint that may be zero or not needed (``None``), as the passes pass them
* ``Index``   an integer index array (``np.intp``)
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]
Maybe = Optional[NDArray[Any]]
Index = NDArray[np.intp]
