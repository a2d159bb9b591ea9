"""The application: the bot that wires the Stoat client to the framework, settings, logging, sandbox, CLIs."""
