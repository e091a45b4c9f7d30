{#-
    Phone numbers as typed ("+1 212-555-0100", "(212) 555-0100", "212.555.0100", "0049 30 1234567")
    to one comparable form: digits only, always with the country code, no leading + or 00.
      - written with a leading + or 00: the digits after it (they start with the country code);
      - otherwise 10 digits starting with 2-9 (a North American area code): a North American
        number without its country code, 1 is prepended;
      - otherwise the digits as they are (11 digits starting with 1 are already North American);
      - fewer than 7 digits, or no digit at all: null (not a phone number one can match on).
    A national number of another country typed without its country code (e.g. a UK "020 ...")
    cannot be told apart from a foreign one and keeps its digits as typed: it only matches the
    same spelling.
-#}
{% macro normalize_phone(column_name) -%}
    {%- set digits = regex_remove_all(column_name, '[^0-9]') -%}
    (
        case
            when length(coalesce({{ digits }}, '')) < 7 then null
            when ltrim({{ column_name }}) like '+%'
                then {{ digits }}
            when ltrim({{ column_name }}) like '00%'
                then substr({{ digits }}, 3)
            when length({{ digits }}) = 10
                and substr({{ digits }}, 1, 1) between '2' and '9'
                then '1' || {{ digits }}
            else {{ digits }}
        end
    )
{%- endmacro %}
