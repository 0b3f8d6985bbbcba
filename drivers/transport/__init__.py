"""Byte transports shared by every protocol: TCP and serial streams with whole-reply deadlines."""
