"""`aframe-dag init`: a new run directory (run.ini, train.yaml, run.sh), from the shipped configs or an aframe law
.cfg."""
