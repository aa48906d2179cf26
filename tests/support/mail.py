"""The mail server of the flow tests' workers: Django's file backend with an off switch.

A worker subprocess cannot share the test's locmem outbox, so it writes each mail to a file
in TEST_EMAIL_DIR; while the file `DOWN` exists there every send fails as an unreachable
SMTP server would, so a test can take the server away and bring it back.
"""

import email
from email.message import Message
from pathlib import Path

from django.core.mail.backends.filebased import EmailBackend

DOWN = "DOWN"
SEPARATOR = b"\n" + b"-" * 79 + b"\n"  # what the file backend writes after each message


class SwitchableFileBackend(EmailBackend):
    def send_messages(self, email_messages):
        if (Path(self.file_path) / DOWN).exists():
            raise ConnectionRefusedError(111, "Connection refused (the test's mail server is down)")
        return super().send_messages(email_messages)


def mail_server_down(directory: Path, down: bool = True) -> None:
    """Take the flow tests' mail server away (or bring it back)."""
    switch = directory / DOWN
    switch.touch() if down else switch.unlink(missing_ok=True)


def mails_written(directory: Path) -> list[Message]:
    """Return the mails the workers wrote to the directory, as parsed messages, oldest first."""
    found = []
    for path in sorted(directory.glob("*.log")):
        for chunk in path.read_bytes().split(SEPARATOR):
            if chunk.strip():
                found.append(email.message_from_bytes(chunk))
    return found
