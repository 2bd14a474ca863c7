"""Everything that speaks Discord: the Bot, how jobs look in messages, buttons and forms.

The rest of `bot/` imports nothing from discord (a test checks this); cogs (at the top level)
are thin adapters from Discord events to `bot.jobs`.
"""
