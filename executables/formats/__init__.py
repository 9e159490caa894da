"""File formats the node programs share (aframe's libs/ledger): ledger sets, strain files, event sets."""
