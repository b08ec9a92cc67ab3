"""The application layer: the `ecoai` command and `ecoai up`, which know every part; no domain part imports it."""
