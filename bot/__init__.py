"""The Telegram bridge: one python-telegram-bot `Application` for residents and staff.

Residents (private chats) talk to Rasa through its REST channel (`bot.rasa`), with sender
ids `tg:<chat_id>:<user_id>`; answers come back as plain text, a digit reply keyboard and,
for those who turned speech on, voice notes (`bot.speaking`). Staff work in one group
(`STAFF_CHAT_ID`): ticket cards with 认领 / 已解决 buttons, replies to cards, commands
(`bot.staff`). Everything the ticket store queues for Telegram is sent by the outbox
deliverer (`bot.delivery`), an asyncio task that survives restarts because its state is
the database. `python -m bot` runs it (`bot.app`, `bot.polling`).
"""
