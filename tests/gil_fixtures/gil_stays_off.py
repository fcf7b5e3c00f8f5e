"""Control: nothing here turns the GIL on; the check must pass."""


def test_plain() -> None:
    assert sum(range(10)) == 45
