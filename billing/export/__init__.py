"""Export files for the utility back-office: CSV, NEM12, IEC 61968-9 CIM and ESPI, atomically."""
