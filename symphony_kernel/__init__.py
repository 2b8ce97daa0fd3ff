"""Symphony Lab's Jupyter layer: ``%load_ext symphony_kernel`` gives the kernel its Pit.

>>> %load_ext symphony_kernel      # creates `pit` in the notebook namespace
>>> %symphony status               # the Pit at a glance
"""

from __future__ import annotations

from symphony_kernel.extension import get_pit, load_ipython_extension, unload_ipython_extension

__all__ = ["get_pit", "load_ipython_extension", "unload_ipython_extension"]
