"""EcoAI oracle node: measure -> model -> optimize/schedule -> prove -> submit."""

__version__ = "0.1.0"
