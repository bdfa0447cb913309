"""The lock names of a pool's slots (`extract/slots.py`): one a slot, at most MySQL's 64
characters whatever the source's name, distinct between sources and prefixes."""

from __future__ import annotations

from mysql_redshift_assets.extract.slots import DEFAULT_PREFIX, PREFIX_ENV, lock_names


def test_short_names_are_readable(monkeypatch):
    monkeypatch.delenv(PREFIX_ENV, raising=False)
    assert lock_names("main", 3) == [f"{DEFAULT_PREFIX}:main:{i}" for i in range(3)]
    monkeypatch.setenv(PREFIX_ENV, "staging")
    assert lock_names("main", 1) == ["staging:main:0"]


def test_long_source_names_are_hashed_within_64_characters():
    long_a, long_b = "a" * 60 + "_x", "a" * 60 + "_y"
    names_a, names_b = lock_names(long_a, 120, "p"), lock_names(long_b, 120, "p")
    assert all(len(n) <= 64 for n in names_a + names_b)
    assert len(set(names_a)) == 120 and not set(names_a) & set(names_b)
    assert lock_names(long_a, 2, "p") != lock_names(long_a, 2, "q")  # the prefix counts too
    # The longest name that fits is kept as it is; one character more is hashed.
    fits = "s" * (64 - len("p:") - len(":0"))
    assert lock_names(fits, 1, "p") == [f"p:{fits}:0"]
    assert lock_names(fits + "s", 1, "p")[0].startswith("mra:")


def test_a_limit_below_one_still_gives_one_slot():
    assert len(lock_names("main", 0, "p")) == 1
