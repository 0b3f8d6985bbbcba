"""`headend demo`: the two-way grid interaction demo (an evening of a simulated grid, read,
allocated and commanded by the head-end, with its effect measured at the feeder meters)."""
