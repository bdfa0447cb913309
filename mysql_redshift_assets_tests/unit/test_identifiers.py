import pytest

from mysql_redshift_assets.identifiers import (
    IdentifierError,
    normalize_columns,
    normalize_identifier,
    qualified,
    quote_ident,
    quote_mysql_ident,
    short_hash,
)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("id", "id"),
        ("CustomerID", "customerid"),
        ("ALL_CAPS_9", "all_caps_9"),
        ("190_time", "col_190_time"),
        ("9", "col_9"),
        ("first name", "first_name"),
        ("a-b", "a_b"),
        ("price.eur", "price_eur"),
        # Printable non-ASCII characters are kept as they are: Redshift takes UTF-8 multibyte
        # characters in identifiers and folds ASCII letters only (issue 22, defect 4; these
        # were `prix__`, `caf_`, `__`, `_x`, `_` before).
        ("Prix €", "prix_€"),
        ("café", "café"),
        ("日付", "日付"),
        ("😀x", "😀x"),
        ("\u212a", "\u212a"),  # the Kelvin sign lowercases to ASCII "k"; it must not
        ("ÄÖÜ", "ÄÖÜ"),  # non-ASCII letters are not folded: Redshift does not fold them
        ("_private", "_private"),
        ("-", "_"),
        ('we"ird`', "we_ird_"),
        ("x" * 127, "x" * 127),
        ("1" + "x" * 122, "col_1" + "x" * 122),
    ],
)
def test_normalize_identifier(source: str, expected: str) -> None:
    assert normalize_identifier(source) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "empty"),
        ("x" * 128, "127"),
        ("1" + "x" * 123, "col_1"),  # the prefix pushes it over the limit
    ],
)
def test_normalize_identifier_rejects(source: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message):
        normalize_identifier(source)


def test_too_long_error_names_the_identifier() -> None:
    with pytest.raises(IdentifierError) as info:
        normalize_identifier("Y" * 130)
    assert "y" * 130 in str(info.value)
    assert "Y" * 130 in str(info.value)


def test_identifier_error_is_a_value_error() -> None:
    assert issubclass(IdentifierError, ValueError)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ([], {}),
        (["Id", "190_time", "Name"], {"Id": "id", "190_time": "col_190_time", "Name": "name"}),
        (["z", "a", "m"], {"z": "z", "a": "a", "m": "m"}),
    ],
)
def test_normalize_columns_keeps_order(names: list[str], expected: dict[str, str]) -> None:
    result = normalize_columns(names, table="orders")
    assert result == expected
    assert list(result) == names


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Amount", "amount"),
        ("a-b", "a_b"),
        ("a b", "a-b"),
        ("190_x", "col_190_x"),
        ("Ä-x", "Ä x"),  # were ("é", "ü"), both `_` then; apart now
    ],
)
def test_normalize_columns_collision_names_both_and_table(first: str, second: str) -> None:
    with pytest.raises(IdentifierError) as info:
        normalize_columns(["id", first, second], table="shop.orders")
    message = str(info.value)
    assert repr(first) in message
    assert repr(second) in message
    assert "shop.orders" in message


def test_normalize_columns_duplicate_source_name() -> None:
    with pytest.raises(IdentifierError, match="twice"):
        normalize_columns(["id", "id"], table="t")


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("select", '"select"'),
        ("order", '"order"'),
        ("user", '"user"'),
        ("group", '"group"'),
        ("table", '"table"'),
        ("plain", '"plain"'),
        ('a"b', '"a""b"'),
        ('""', '""""""'),
        ("a`b", '"a`b"'),
        ("Mixed Case", '"Mixed Case"'),
    ],
)
def test_quote_ident(name: str, quoted: str) -> None:
    assert quote_ident(name) == quoted


@pytest.mark.parametrize("reserved", ["Order", "SELECT", "user", "Group", "TABLE"])
def test_reserved_words_need_nothing_but_quoting(reserved: str) -> None:
    assert quote_ident(normalize_identifier(reserved)) == f'"{reserved.lower()}"'


def test_order_example() -> None:
    assert quote_ident(normalize_identifier("Order")) == '"order"'


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("select", "`select`"),
        ("a`b", "`a``b`"),
        ('a"b', '`a"b`'),
        ("first name", "`first name`"),
        ("日付", "`日付`"),
    ],
)
def test_quote_mysql_ident(name: str, quoted: str) -> None:
    assert quote_mysql_ident(name) == quoted


@pytest.mark.parametrize(
    ("schema", "table", "expected"),
    [
        ("analytics", "orders", '"analytics"."orders"'),
        ("user", "group", '"user"."group"'),
        ('s"x', "t", '"s""x"."t"'),
    ],
)
def test_qualified(schema: str, table: str, expected: str) -> None:
    assert qualified(schema, table) == expected


@pytest.mark.parametrize("quote", [quote_ident, quote_mysql_ident])
@pytest.mark.parametrize("bad", ["", "a\x00b"])
def test_quoting_refuses_unquotable_names(quote, bad: str) -> None:
    with pytest.raises(IdentifierError):
        quote(bad)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["oid", "TableOID", "xmin", "cmin", "xmax", "cmax", "ctid"],
         ["col_oid", "col_tableoid", "col_xmin", "col_cmin", "col_xmax", "col_cmax", "col_ctid"]),
        (["oid_ref", "xmin2", "id"], ["oid_ref", "xmin2", "id"]),
    ],
)  # fmt: skip
def test_system_column_names_are_renamed(names: list[str], expected: list[str]) -> None:
    # Redshift (and PostgreSQL) refuse these names in CREATE TABLE even quoted.
    assert list(normalize_columns(names, table="t").values()) == expected


def test_a_recorded_system_column_mapping_is_kept() -> None:
    assert normalize_columns(["oid"], table="t", recorded={"oid": "col_oid"}) == {"oid": "col_oid"}


def test_system_column_rename_collides_like_any_other() -> None:
    with pytest.raises(IdentifierError, match="'oid' and 'col_oid' both become 'col_oid'"):
        normalize_columns(["oid", "col_oid"], table="t")


# -- non-ASCII names (issue 22, defect 4) -------------------------------------------------------


def test_non_latin_names_stay_apart() -> None:
    assert normalize_identifier("订单") == "订单" and normalize_identifier("客户") == "客户"
    assert normalize_identifier("Заказы") == "Заказы"  # Cyrillic upper case is not folded


@pytest.mark.parametrize(
    "name",
    ["a\u200bb", "a\u200cb", "a\u3000b", "a\u00a0b", "a\x85b", "a\ue000b", "a\u2028b"],
)
def test_a_character_no_target_takes_becomes_a_stem_and_the_hash(name: str) -> None:
    # Zero-width and format characters, non-ASCII spaces, controls, private use, separators:
    # not "UTF-8 printable" (Redshift) -> `_`, and the hash of the whole name keeps them apart.
    assert normalize_identifier(name) == f"a_b_{short_hash(name)}"


def test_names_that_lose_a_character_differ_by_their_hash() -> None:
    names = {normalize_identifier(n) for n in ["订单\u200b", "订单\u200c", "订单\u3000", "订单_"]}
    assert len(names) == 4


@pytest.mark.parametrize("limit", [63, 127])
def test_a_long_non_ascii_name_is_cut_at_a_character_boundary(limit: int) -> None:
    name = "订" * 50  # 150 bytes
    short = normalize_identifier(name, limit)
    assert len(short.encode()) <= limit and short.encode().decode() == short
    assert short.startswith("订" * ((limit - 9) // 3)) and short.endswith("_" + short_hash(name))
    assert normalize_identifier("订" * 49 + "单", limit) != short
    lossy = "订" * 50 + "\u200b"
    assert normalize_identifier(lossy, limit).endswith("_" + short_hash(lossy))
    assert len(normalize_identifier(lossy, limit).encode()) <= limit


def test_ascii_names_are_what_they_always_were() -> None:
    from mysql_redshift_assets.identifiers import ascii_identifier  # (collects on old code)

    for name in ["Orders", "order-items", "190_time", "a b.c", "x" * 200, "Customer ID"]:
        assert normalize_identifier(name, 63) == ascii_identifier(name, 63)
        assert normalize_identifier(name, 127) == ascii_identifier(name, 127)


@pytest.mark.parametrize(
    ("name", "old"),
    [("订单", "__"), ("Prix €", "prix__"), ("café", "caf_"), ("\u212a", "_"), ("1订", "col_1_")],
)
def test_the_ascii_only_normalisation_of_old_watermarks(name: str, old: str) -> None:
    from mysql_redshift_assets.identifiers import ascii_identifier

    assert ascii_identifier(name) == old
