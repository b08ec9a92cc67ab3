"""EcoAI web dApp: FastAPI + Jinja2 + HTMX over the chain indexer."""
