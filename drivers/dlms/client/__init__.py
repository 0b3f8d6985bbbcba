"""The head-end's async DLMS/COSEM client: one `DlmsSession` per association with a meter.

`open_dlms_session` (session.py) is the entry point; the layout is in drivers/dlms/__init__.py.
"""
