import pytest

from mysql_redshift_assets.identifiers import (
    IdentifierError,
    normalize_columns,
    normalize_identifier,
    qualified,
    quote_ident,
    quote_mysql_ident,
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
        ("Prix €", "prix__"),
        ("café", "caf_"),
        ("日付", "__"),
        ("😀x", "_x"),
        ("\u212a", "_"),  # the Kelvin sign lowercases to ASCII "k"; it must not
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
        ("é", "ü"),
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
