"""`status`, `why` and `graph`: what a run is doing and who runs it, from its files and the schedd (no click here)."""
