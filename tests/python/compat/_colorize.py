"""A stand-in for CPython 3.14's private `_colorize`, for CPython 3.14's `argparse` running on an
older interpreter (see run.py): never colours, which is what 3.14 does when output is not a tty.
"""


class _NoColor:
    def __getattr__(self, name):
        return ""


class _Theme:
    def __getattr__(self, name):
        return _NoColor()


def can_colorize(*, file=None):
    return False


def decolor(text):
    return text


def get_theme(*, tty_file=None, force_color=False, force_no_color=False):
    return _Theme()
