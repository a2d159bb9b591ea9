"""Logiq social alerts: follow feeds and announce each new item once in a channel."""
