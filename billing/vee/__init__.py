"""Validation, estimation and editing of the stored readings billing works from."""
