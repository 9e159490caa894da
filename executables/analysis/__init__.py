"""Analysis nodes: sensitive volume and the FINAL run summary."""
