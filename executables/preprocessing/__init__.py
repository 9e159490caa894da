"""Preprocessing that training and inference share (aframe's libs/utils preprocessing): PSDs and whitening."""
