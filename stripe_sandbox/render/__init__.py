"""Records -> Stripe JSON, per API version, with ``expand[]``: one module per resource family.

``renderer`` holds ``Renderer`` (dispatch by kind, events, ``expand[]``); ``catalog``,
``checkout``, ``payments`` and ``billing`` hold the render methods it mixes in; ``common``
the API version flags and small fields they share.
"""

from .common import Version, version
from .renderer import Renderer, expand_tree

__all__ = ["Renderer", "Version", "expand_tree", "version"]
