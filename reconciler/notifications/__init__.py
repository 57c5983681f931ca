"""Notifications people read: the e-mail text, the AWS Chatbot message, the next step for each event.

Pure functions; :class:`reconciler.adapters.notify.SnsNotifier` assembles their output into one
``MessageStructure=json`` SNS message (JSON for programs, text for e-mail, Chatbot for https).
"""

from reconciler.notifications.next_steps import NEXT_STEPS, REASON_STEPS, NextStep, next_step
from reconciler.notifications.render import EMAIL_MAX_CHARS, MIN_EMAIL_CHARS, chatbot_message, email_text
from reconciler.notifications.size import SNS_MESSAGE_LIMIT, message_size, structured_message

__all__ = [
    "EMAIL_MAX_CHARS",
    "MIN_EMAIL_CHARS",
    "NEXT_STEPS",
    "REASON_STEPS",
    "SNS_MESSAGE_LIMIT",
    "NextStep",
    "chatbot_message",
    "email_text",
    "message_size",
    "next_step",
    "structured_message",
]
