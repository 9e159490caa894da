"""Training nodes: aframe-train and the Optuna tune trials and selection."""
