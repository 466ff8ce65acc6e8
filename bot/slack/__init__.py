"""The Slack front door: officials ask in channels (by mention), in direct messages, with `/advisor` or the
"Ask the advisor about this" message shortcut, and get grounded answers with sources, feedback buttons and a way
to reach a consultant. Start it with `advisor slack`; see docs/slack.md.
"""
