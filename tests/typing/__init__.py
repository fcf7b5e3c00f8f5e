"""Code written as a user of refasync would write it, checked by mypy in tests/test_typing.py.

* ``pass_*.py`` must type-check cleanly (they are part of the normal ``mypy --strict`` run)
  and their ``check_*`` functions run without error.
* ``fail_*.py`` must produce exactly the errors marked ``# E: <fragment>`` on their lines.
* ``bug_*.py`` should type-check but do not, because of a known library typing bug (an
  xfail test names it).

``fail_*`` and ``bug_*`` files are excluded from the normal mypy run (mypy.ini ``exclude``).
"""
