"""Gravitational-wave sources (aframe's libs/priors): priors over their parameters and the signals they make."""
