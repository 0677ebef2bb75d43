"""The two faces of citebot: the terminal CLI and the Telegram bot."""
