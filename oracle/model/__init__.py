"""Energy-per-item model fitted on measured profiles (used by `ecoai optimize --predict-batches`)."""
