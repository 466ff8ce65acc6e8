"""The Microsoft Teams front door, on the Microsoft 365 Agents SDK: officials ask in a personal chat or by
@mentioning the agent in a channel, and get grounded answers as Adaptive Cards with numbered sources, helpful /
not helpful buttons and a way to reach a consultant. Start it with `advisor teams`; `advisor teams package` builds
the app package for a tenant admin; `bot.teams.references.send_proactive` posts into a saved conversation (the
weekly digest). See docs/teams.md.
"""
