"""Logiq tickets: private support conversations between a member and staff."""
