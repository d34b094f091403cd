"""SigmaSight: portfolio-risk batch system (plain-Python core; never imports Prefect)."""
