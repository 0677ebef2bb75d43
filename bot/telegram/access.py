"""Who may use the bot: optional allowlists of users and chats, and the admins.

No allowlist at all means everyone. With one, a message is allowed when its sender or its
chat is listed; an inline query has no chat, so it needs a listed user. Admins pass
every allowlist and alone may reindex.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import Message, MessageEntity, Update
from telegram.ext import filters

from bot.settings import Settings


@dataclass(frozen=True)
class Access:
    users: frozenset[int] = frozenset()
    chats: frozenset[int] = frozenset()
    admins: frozenset[int] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        return cls(
            settings.telegram_allowed_users,
            settings.telegram_allowed_chats,
            settings.telegram_admins,
        )

    @property
    def open(self) -> bool:
        return not self.users and not self.chats

    def allows(self, user_id: int | None, chat_id: int | None) -> bool:
        if self.open or user_id in self.admins or user_id in self.users:
            return True
        return chat_id is not None and chat_id in self.chats

    def allows_update(self, update: Update) -> bool:
        user = update.effective_user
        chat = update.effective_chat
        return self.allows(user.id if user else None, chat.id if chat else None)

    def is_admin(self, user_id: int | None) -> bool:
        return user_id in self.admins


class AddressedToBot(filters.MessageFilter):
    """A message meant for the bot: any in a private chat; in a group a command for this bot,
    a reply to one of its messages or an @-mention of it."""

    def filter(self, message: Message) -> bool:
        if message.chat.type == message.chat.PRIVATE:
            return True
        bot = message.get_bot()
        replied = message.reply_to_message
        if replied and replied.from_user and replied.from_user.id == bot.id:
            return True
        handle = f"@{bot.username}".lower()
        for entity, text in message.parse_entities().items():
            command = entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0
            if command and ("@" not in text or text.lower().endswith(handle)):
                return True
            if entity.type == MessageEntity.MENTION and text.lower() == handle:
                return True
            user = entity.user if entity.type == MessageEntity.TEXT_MENTION else None
            if user and user.id == bot.id:
                return True
        return False


def without_mention(text: str, username: str) -> str:
    """The question with the bot's @-mention taken out."""
    return " ".join(re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE).split())
