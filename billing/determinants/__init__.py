"""Billing determinants per meter and period, from registers or interval data."""
