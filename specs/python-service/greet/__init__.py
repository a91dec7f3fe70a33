"""Greets with a number people can read."""

import humanize


def greeting(count: int) -> str:
    return f"hello from greet: {humanize.intword(count)} visitors"
