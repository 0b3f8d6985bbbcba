"""Smart payment: prepaid accounts, payments, daily deductions and automatic fee control."""
