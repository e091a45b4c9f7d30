"""Personal data in the serving file: which columns hold it, and the keyed mask that replaces it.

Which columns: declared where dbt users document columns, in the marts' yml
(the yml beside each mart in ``dbt/models/marts/``), as ``config: meta: {pii: <kind>}`` on the column, and read
from the dbt manifest. Kinds and how a value is normalised before it is hashed (so that the same
person gives the same token whatever table or spelling the value comes from):

- ``email``: lower case, trimmed;
- ``phone``: digits with the country code, as the dbt macro ``normalize_phone`` does, so a phone
  as typed (``(212) 555-0100``) and its normalised form (``12125550100``) give the same token;
- ``name``: lower case, trimmed, runs of spaces collapsed;
- ``identity``: a source identity key or id (``bridge_customer_identities``) that is an email for
  email contacts (``marketing:email_contact:ann@x.com``): the part after the last ``:`` is
  masked as an email when it holds an ``@``; ids of records (``C0001``, ``marketing:lead:L01``)
  are not personal data and stay, so lookups and joins by them keep working;
- ``free_text``: what customers wrote (survey comments, the feedback model's text): emails and
  phone numbers inside the text are replaced by ``[email]`` and ``[phone]``, the rest is kept
  for reading. Names written in free text cannot be told from other words and are NOT removed.

The mask: ``<kind>_`` + the first 16 hex digits of ``sha256(key || sha256(key || normalised))``.
Keyed, because an unkeyed hash of an email is reversed by hashing a list of addresses; nested, so
the key cannot be peeled off by extending the hash. Same value and key, same token in every
table and every run: counts of distinct values and joins on masked columns give the numbers the
real values give. Nulls stay null; a value that normalises to nothing is kept as it is.

The key: ``CRM_PII_KEY``, or else a random one generated once into ``$CRM_DATA_DIR/secrets/pii.key``
(mode 0600). Every masked column of the serving file carries a comment naming its kind and the
key's id (a hash of the key, not the key), which is how the customer lookup knows a file is masked
and that it holds the key that masked it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.core.settings import Settings
from dagster_project.core.warehouse import quote_identifier

PII_META_KEY = "pii"
KINDS = ("email", "phone", "name", "identity", "free_text")
TOKEN_HEX_DIGITS = 16  # 64 bits: no collision to expect below billions of distinct values
KEY_VARIABLE = "crm_pii_key"  # DuckDB session variable: the key never appears in the SQL text
MINIMUM_KEY_LENGTH = 16
MASKED_COMMENT = re.compile(r"^pii masked: kind=(?P<kind>\w+), key_id=(?P<key_id>[0-9a-f]+)\b")

# Column names that suggest personal data: publishing a masked file refuses such a column when it
# is not declared (fail closed), e.g. a new mart exposing `contact_email` without `meta: {pii: email}`.
PERSONAL_LOOKING_NAME = re.compile(
    r"(^|_)(e?mail|phone|mobile|first_name|last_name|full_name|surname|given_name|contact_name|requester_name)"
    r"(_(normalized|normalised|address|number|raw))?$"
)

# (schema, relation) -> {column: kind}
PersonalColumns = Mapping[tuple[str, str], Mapping[str, str]]


class PiiDeclarationError(ValueError):
    """The declared personal columns and the served relations disagree."""


def declared_personal_columns(manifest: Mapping) -> dict[tuple[str, str], dict[str, str]]:
    """Every column with ``meta: {pii: <kind>}`` in the dbt manifest (models, seeds, snapshots and
    sources), keyed by the relation dbt builds: (schema, alias or identifier)."""
    declared: dict[tuple[str, str], dict[str, str]] = {}
    nodes = [*manifest.get("nodes", {}).values(), *manifest.get("sources", {}).values()]
    for node in nodes:
        relation = (node.get("schema"), node.get("alias") or node.get("identifier") or node.get("name"))
        for column_name, column in (node.get("columns") or {}).items():
            meta = {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}
            kind = meta.get(PII_META_KEY)
            if kind is None or kind is False:
                continue
            if kind not in KINDS:
                raise PiiDeclarationError(
                    f"{relation[0]}.{relation[1]}.{column_name}: meta pii={kind!r}; use one of {', '.join(KINDS)}"
                )
            declared.setdefault(relation, {})[column_name] = kind
    return declared


def declared_personal_columns_from_file(manifest_path: Path) -> dict[tuple[str, str], dict[str, str]]:
    return declared_personal_columns(json.loads(Path(manifest_path).read_text()))


# ---------------------------------------------------------------- the key


def key_id(key: str) -> str:
    """A public name for the key: tells two keys apart without revealing either."""
    return hashlib.sha256(f"crm-pii-key-id:{key}".encode()).hexdigest()[:12]


def load_pii_key(settings: Settings, create: bool = True) -> str:
    """CRM_PII_KEY, else the generated key file (created when ``create`` and missing)."""
    if settings.pii_key:
        if len(settings.pii_key) < MINIMUM_KEY_LENGTH:
            raise ValueError(f"CRM_PII_KEY is too short: use at least {MINIMUM_KEY_LENGTH} random characters")
        return settings.pii_key
    path = settings.pii_key_path
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"No masking key: set CRM_PII_KEY or provide {path}")
        _create_key_file(path)
    key = path.read_text().strip()
    if len(key) < MINIMUM_KEY_LENGTH:
        raise ValueError(f"The masking key in {path} is too short (at least {MINIMUM_KEY_LENGTH} characters)")
    return key


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Written whole under a private name, then linked into place: two processes creating it at
    # once end with one key (link fails if the name exists), and nobody reads a half-written file.
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink(missing_ok=True)


def masking_from_settings(settings: Settings, manifest_path: Path) -> PiiMasking | None:
    """The masking the serving file gets: None unless CRM_SERVING_MASK_PII is on."""
    if not settings.serving_mask_pii:
        return None
    return PiiMasking(load_pii_key(settings), declared_personal_columns_from_file(manifest_path))


# ---------------------------------------------------------------- the mask, in DuckDB SQL


def _normalised(value_sql: str, kind: str) -> str:
    if kind == "email":
        return f"lower(trim({value_sql}))"
    if kind == "name":
        return f"lower(trim(regexp_replace({value_sql}, '\\s+', ' ', 'g')))"
    if kind == "phone":
        digits = f"regexp_replace({value_sql}, '[^0-9]', '', 'g')"
        # The dbt macro normalize_phone; what it cannot read as a phone is masked as typed.
        return (
            f"(case when length({digits}) < 7 then lower(trim({value_sql}))"
            f" when ltrim({value_sql}) like '+%' then {digits}"
            f" when ltrim({value_sql}) like '00%' then substr({digits}, 3)"
            f" when length({digits}) = 10 and regexp_matches({digits}, '^[2-9]') then '1' || {digits}"
            f" else {digits} end)"
        )
    raise ValueError(f"no normalisation for kind {kind!r}")


def _token(value_sql: str, kind: str) -> str:
    normalised = _normalised(value_sql, kind)
    key = f"getvariable('{KEY_VARIABLE}')"
    digest = f"left(sha256({key} || sha256({key} || {normalised})), {TOKEN_HEX_DIGITS})"
    return (
        f"(case when {value_sql} is null then null when {normalised} = '' then {value_sql}"
        f" else '{kind}_' || {digest} end)"
    )


# Inside free text (RE2, DuckDB's regex engine): an email; a phone number as people write them
# (8 to 12 digits in three groups, optional +country code or 00country code, brackets, spaces, dots or dashes), starting
# at a word boundary so that record ids (O00043787) stay. Dates (2025-01-31) and amounts
# (1,299.00) do not match: their groups are too short.
EMAIL_IN_TEXT = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
PHONE_IN_TEXT = r"(\+\d{1,3}[ .-]?|\b00\d{1,3}[ .-]?)?(\(\d{2,4}\)|\b\d{2,4})[ .-]?\d{3,4}[ .-]?\d{3,4}\b"


def _redact_free_text(value_sql: str) -> str:
    without_emails = f"regexp_replace({value_sql}, '{EMAIL_IN_TEXT}', '[email]', 'g')"
    return f"regexp_replace({without_emails}, '{PHONE_IN_TEXT}', '[phone]', 'g')"


def mask_sql(value_sql: str, kind: str) -> str:
    """SQL replacing ``value_sql`` by its token; needs :func:`set_key` on the connection first."""
    if kind == "free_text":
        return _redact_free_text(value_sql)
    if kind == "identity":
        prefix = f"regexp_extract({value_sql}, '^(.*:)?', 0)"
        tail = f"regexp_extract({value_sql}, '[^:]*$', 0)"
        return f"(case when contains({value_sql}, '@') then {prefix} || {_token(tail, 'email')} else {value_sql} end)"
    return _token(value_sql, kind)


def set_key(connection: duckdb.DuckDBPyConnection, key: str) -> None:
    connection.execute(f"SET VARIABLE {KEY_VARIABLE} = ?", [key])


def forget_key(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(f"RESET VARIABLE {KEY_VARIABLE}")


def mask_value(connection: duckdb.DuckDBPyConnection, value: str, kind: str, key: str) -> str | None:
    """The token of one value, computed by the same SQL as the serving file's (e.g. to look up an email)."""
    set_key(connection, key)
    try:
        return connection.execute(f"SELECT {mask_sql('$1::VARCHAR', kind)}", [value]).fetchall()[0][0]
    finally:
        forget_key(connection)


# ---------------------------------------------------------------- masking a copy


@dataclass(frozen=True)
class PiiMasking:
    """What publishing needs to mask: the key and the declared columns."""

    key: str = field(repr=False)
    columns: PersonalColumns

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    def columns_of(self, schema: str, relation: str) -> Mapping[str, str]:
        return self.columns.get((schema, relation), {})


def relation_columns(connection: duckdb.DuckDBPyConnection, schema: str, relation: str) -> list[tuple[str, str]]:
    """(name, type) of the columns of a relation of the connection's current database, in order."""
    return connection.execute(
        """
        select column_name, data_type from information_schema.columns
        where table_catalog = current_database() and table_schema = ? and table_name = ?
        order by ordinal_position
        """,
        [schema, relation],
    ).fetchall()


def check_declarations(
    connection: duckdb.DuckDBPyConnection, relations: Iterable[tuple[str, str]], masking: PiiMasking
) -> None:
    """Refuse to publish a masked file that would leak: a declared column missing from its
    relation (the yml and the build disagree), or a text column that looks personal and is not declared."""
    problems = []
    for schema, relation in relations:
        columns = dict(relation_columns(connection, schema, relation))
        declared = masking.columns_of(schema, relation)
        problems += [
            f"{schema}.{relation}.{name} is declared personal but missing" for name in declared if name not in columns
        ]
        problems += [
            f"{schema}.{relation}.{name} looks personal but has no `meta: {{pii: <kind>}}` in the dbt yml"
            for name, data_type in columns.items()
            if data_type == "VARCHAR" and name not in declared and PERSONAL_LOOKING_NAME.search(name)
        ]
    if problems:
        raise PiiDeclarationError(
            "Personal data declarations do not match the served tables:\n- " + "\n- ".join(problems)
        )


def masked_select_list(masking: PiiMasking | None, schema: str, relation: str) -> str:
    """The select list copying a relation: ``*`` with every declared column replaced by its mask."""
    declared = masking.columns_of(schema, relation) if masking else {}
    if not declared:
        return "*"
    replaced = ", ".join(
        f"{mask_sql(quote_identifier(name), kind)} AS {quote_identifier(name)}" for name, kind in declared.items()
    )
    return f"* REPLACE ({replaced})"


def comment_masked_columns(
    connection: duckdb.DuckDBPyConnection,
    table_sql: str,
    masking: PiiMasking,
    schema: str,
    relation: str,
    descriptions: dict[str, str] | None = None,
) -> list[str]:
    """Mark each masked column in the file's catalog (what analysts see, what the lookup reads),
    followed by the column's description, if it has one."""
    declared = masking.columns_of(schema, relation)
    for name, kind in declared.items():
        how = (
            "Emails and phone numbers in the text replaced by [email] and [phone]"
            if kind == "free_text"
            else "Keyed hash of the normalised value: the same value gives the same token in every table"
        )
        comment = f"pii masked: kind={kind}, key_id={masking.key_id}. {how} (dagster_project/serve/pii.py)."
        description = (descriptions or {}).get(name)
        if description:
            comment += f" {description}"
        connection.execute(f"COMMENT ON COLUMN {table_sql}.{quote_identifier(name)} IS {sql_text(comment)}")
    return list(declared)


def sql_text(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class MaskedColumn:
    schema: str
    relation: str
    column: str
    kind: str
    key_id: str


def masked_columns_in(connection: duckdb.DuckDBPyConnection, database: str | None = None) -> list[MaskedColumn]:
    """The masked columns of an opened serving file (or of the attached ``database``), from their
    comments (none when unmasked)."""
    rows = connection.execute(
        """
        select schema_name, table_name, column_name, comment from duckdb_columns()
        where database_name = coalesce(?, current_database()) and comment like 'pii masked:%'
        order by all
        """,
        [database],
    ).fetchall()
    found = []
    for schema, relation, column, comment in rows:
        match = MASKED_COMMENT.match(comment)
        if match:
            found.append(MaskedColumn(schema, relation, column, match["kind"], match["key_id"]))
    return found
