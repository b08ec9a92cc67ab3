"""Carbon: grid intensity (versioned table, Electricity Maps live), the Eco Score and `ecoai report`."""
