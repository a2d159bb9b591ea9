"""Operating the rollout gate from outside the bot: the service behind ``logiq rollout`` and its monitor."""
