"""Logiq AI chat: conversations with a language model, within budgets."""
