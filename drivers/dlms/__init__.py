"""DLMS/COSEM driver. Every import of `dlms_cosem` (BSL-1.1 licensed) stays inside this package,
so that the codec can be swapped without touching the rest of the head-end."""
