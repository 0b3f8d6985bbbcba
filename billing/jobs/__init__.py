"""What the CLI and the service run: billing a period, exporting it, daily prepaid deductions."""
