"""The matched-filter reference search (PyCBC) over the test set the network saw: bank, filtering, coincidence."""
