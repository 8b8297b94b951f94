"""Email bodies from Jinja2 templates: every message has a plain-text and an HTML part."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("medgrader.notifications", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,  # a missing variable is a bug, not an empty string
        keep_trailing_newline=True,
    )


def render_email(
    template: str,
    *,
    to: str,
    subject: str,
    context: dict[str, Any],
    message_id: str | None = None,
) -> EmailMessage:
    env = _environment()
    text_body = env.get_template(f"{template}.txt").render(**context)
    html_body = env.get_template(f"{template}.html").render(subject=subject, **context)
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    if message_id is not None:  # otherwise the mailer gives it a random one when it sends
        message["Message-ID"] = message_id
    message.set_content(text_body)
    message.add_alternative(html_body, subtype="html")
    return message
