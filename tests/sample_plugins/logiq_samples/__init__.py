"""Sample third-party plugins used by Logiq's tests."""
