"""One exception type for problems a user can fix (bad file, wrong shape, missing folder).

The CLI prints these as a single line and the app shows them with ``st.error``; anything else
is a bug and keeps its traceback.
"""


class WiseftError(Exception):
    """A user-actionable error: the message names the file, key or value and what was expected."""
