"""Discord adapters: one feature per module, each ending in `async def setup(bot)`."""
