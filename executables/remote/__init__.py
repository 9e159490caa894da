"""Remote training: the launcher node that runs training as a Kubernetes Job."""
