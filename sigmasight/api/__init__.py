"""The SigmaSight HTTP API: a FastAPI read API over the stored results (``sigmasight api``)."""
