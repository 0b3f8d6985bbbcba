"""Bills: pricing determinants by a tariff, storing bills with their line items."""
