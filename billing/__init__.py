"""Billing: tariffs, billing determinants, prepayment and export files.

Works on stored readings and the command service only; never talks to meters (no `drivers` import).
"""
