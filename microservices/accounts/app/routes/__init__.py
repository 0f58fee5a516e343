"""HTTP routes of the accounts service, one module per area."""
