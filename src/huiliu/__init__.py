"""huiliu (汇流): an ERP ⇄ OA integration hub.

The packages follow the layers of ``DESIGN.md``: ``model`` and ``crypto`` at the bottom, ``store`` above
them, then ``bus``, ``connectors``, ``crosswalk`` and ``sandbox``, then ``flows``, the ``service`` that wires
them into the loop, and ``web`` and ``cli`` on top.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
