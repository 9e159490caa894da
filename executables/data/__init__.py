"""Data nodes: background strain, waveforms, injections and their merges."""
