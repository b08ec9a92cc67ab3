"""`ecoai relay`: takes nodes' v2 efficiency proofs over HTTP, checks them, settles them in batches on GreenProof."""
