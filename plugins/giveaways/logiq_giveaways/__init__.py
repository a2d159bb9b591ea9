"""Logiq giveaways: timed giveaways whose draws anyone can verify."""
