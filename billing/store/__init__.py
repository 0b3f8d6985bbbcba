"""Billing's own tables (bills, prepaid accounts, payments) in the head-end's database."""
