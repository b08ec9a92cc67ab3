"""The web app's routes: HTML pages (pages.py) and the JSON API (api.py, response models in models.py)."""
