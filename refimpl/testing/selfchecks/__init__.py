"""One module per area; each registers its checks with refimpl.testing.selfcheck.register_check."""
