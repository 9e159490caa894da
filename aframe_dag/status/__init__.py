"""`status`, `why` and `graph`: what a run is doing, from its files and the schedd when one answers (no click here)."""
