"""Inference nodes: timeslid background and injections through the exported model, and their aggregation."""
