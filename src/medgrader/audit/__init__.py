"""The ledger audit: read-only checks across the ledger, payments and holds (`medgrader audit`,
the hourly job, the back office's last result). A domain on top of the ones it checks."""
