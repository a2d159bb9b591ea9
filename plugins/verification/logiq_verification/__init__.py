"""Logiq's verification feature (a plugin: ``pip install "logiq[verification]"``)."""
