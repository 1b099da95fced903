"""mashlink: integration middleware for Multi-Agency Safeguarding Hubs.

The parts live at the top of the repository and are installed as
``mashlink.schemas``, ``mashlink.mapping``, ``mashlink.broker``,
``mashlink.hub``, ``mashlink.connectors``, ``mashlink.ops``,
``mashlink.config`` and ``mashlink.bench``.
"""

__version__ = "0.1.0"
