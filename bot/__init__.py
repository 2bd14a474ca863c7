"""Gemini image bot: the Discord-free core and the Bot that wires it to Discord."""
