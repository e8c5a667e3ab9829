//! What PostgreSQL prints for JSON, byte for byte, computed in Rust.
//!
//! The catalog audit proves that the stored rows are what the projection of the stored TMDB
//! response gives by comparing digests: PostgreSQL hashes the text of its rows
//! ([`digest_sql`]), Rust hashes the text it expects ([`digest`]) for the rows the normaliser
//! produced. Both sides must therefore agree on every byte of that text, which is what this
//! module reproduces:
//!
//! - [`jsonb_text`]: `$1::jsonb::text` for a JSON value (keys ordered by byte length, then
//!   bytes; `", "` and `": "` separators; numbers as `numeric` prints them: `1.0` stays `1.0`,
//!   `1e-7` is `0.0000001`, `1.5e20` is `150000000000000000000`, `-0.0` is `0.0`).
//! - [`column_text`] / [`column_jsonb_text`]: `to_jsonb(x.c)::text` after
//!   `jsonb_to_recordset(...) AS x(c <type>)` (or `jsonb_populate_record`, which works the same;
//!   `(j->>'k')::type` too, except for arrays, which it reads as array literals) stored the
//!   value. PostgreSQL feeds the type's input function the value's text: a string unescaped, a
//!   number as `numeric` prints it, `true`/`false`, an array or object as its jsonb text; so
//!   `"12"` is an integer and `12.0` is not, and a text column holds the number `12.5` as
//!   `"12.5"`.
//! - [`row_jsonb_text`]: `to_jsonb(t)::text` of a row from its columns' texts.
//! - [`column_out`]: what the column type's output function prints for the stored value, which
//!   is what `ROW(x.a, x.b)::text` (`record_out`) is made of: `t`/`f`, `1e-05`, `1.5e+20`, `-0`,
//!   `NaN`, `2014-10-02 19:20:22.5+00`, `{a,"b c",NULL}`. For every type here but `boolean`
//!   that is also `x.c::text`; a boolean's cast to text prints `true`/`false` (`booltext`), its
//!   output function `t`/`f`.
//! - [`record_text`]: `ROW(...)::text` of a row from its fields' output texts, which costs
//!   PostgreSQL about a quarter of what `to_jsonb(t)::text` does; the audit's digests hash it.
//!
//! The input is a `serde_json::Value`, and what counts is the text serde_json writes for it,
//! which is what Marquee sends: serde_json holds `12.50` and `1e2` as the doubles 12.5 and 100.0
//! and writes them `12.5` and `100.0` (PostgreSQL, given the texts `12.50` and `1e2`, would keep
//! `12.50` and read `1e2` into an integer column; given `100.0`, it refuses).
//!
//! What the text depends on besides the value (the audit's session must `SET` the first three):
//! - `extra_float_digits = 1` (PostgreSQL's default; any value above 0 gives the same): a
//!   `double precision` prints the shortest digits that read back to the same double (which
//!   `to_jsonb` re-reads as `numeric`: `1.0` → `1`, `1e-5` → `0.00001`; and which the output
//!   function writes in printf's `%g` layout: `1e-05`, `1e+15`). With 0 or less it would print
//!   15 significant digits (`0.30000000000000004` → `0.3`).
//! - `DateStyle = 'ISO, MDY'` (the default), for the output texts of dates and times
//!   ([`column_out`], [`record_text`]); `to_jsonb` prints ISO 8601 in every style.
//! - `TimeZone = 'UTC'`, for `timestamp with time zone` only (`+00` / `+00:00`).
//! - `IntervalStyle` and `bytea_output` do not matter: no column here has those types.
//! - PostgreSQL 15. Version 16 also reads `1_000` and `0x1A` into integer columns, which 15
//!   refuses (the model then says `Refused` where 16 stores a number).
//! - The database's `LC_CTYPE`: `record_out` quotes a field holding a byte that C's `isspace`
//!   says is a space in that locale. [`record_text`] assumes the six ASCII spaces only (a
//!   no-break space, U+0085 and U+3000 stay bare), as in `C` and `C.UTF-8` (tested); glibc's
//!   other UTF-8 locales should agree, since a byte above 0x7F is no character in them.
//! - A UTF-8 database (the digest hashes the text's UTF-8 bytes).
//!
//! PostgreSQL refuses the character U+0000 anywhere in a jsonb document (`\u0000 cannot be
//! converted to text`), so a value holding one can never be stored: [`column_text`] says
//! `Refused`, and [`jsonb_text`] prints `\u0000` for a document PostgreSQL would not accept.
//!
//! Date and time strings: PostgreSQL's date/time parser reads far more than ISO 8601 (`October
//! 2, 2014`, `20141002`, `now`, `2014-10-02 19:20:22.-5`, ...). The model reads the ISO forms
//! the normaliser writes, exactly (`YYYY-MM-DD`, optionally `[T ]HH:MM:SS[.fraction]` and a zone
//! `Z`, `±HH`, `±HH:MM` or `±HHMM`, plus `infinity`, `-infinity` and `epoch`), and says
//! `NotModelled` for anything else, as it does for array literals (`"{a,b}"`) into `text[]`.

use std::cmp::Ordering;

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

/// The column types the catalog's tables use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Int2,
    Int4,
    Int8,
    Float8,
    Numeric,
    Text,
    Bool,
    Date,
    Timestamp,
    /// Printed in UTC: assumes the session's `TimeZone` is `UTC`.
    Timestamptz,
    Jsonb,
    TextArray,
}

impl ColumnType {
    pub const ALL: [ColumnType; 12] = [
        ColumnType::Int2,
        ColumnType::Int4,
        ColumnType::Int8,
        ColumnType::Float8,
        ColumnType::Numeric,
        ColumnType::Text,
        ColumnType::Bool,
        ColumnType::Date,
        ColumnType::Timestamp,
        ColumnType::Timestamptz,
        ColumnType::Jsonb,
        ColumnType::TextArray,
    ];

    /// From `information_schema.columns.data_type` ("integer", "double precision",
    /// "timestamp without time zone", ...) or from `udt_name` ("int4", "float8", "_text", ...).
    /// An array's `data_type` is just "ARRAY": pass its `udt_name`, or use
    /// [`ColumnType::from_information_schema`].
    pub fn from_pg_name(name: &str) -> Option<ColumnType> {
        Some(match name {
            "smallint" | "int2" => ColumnType::Int2,
            "integer" | "int4" => ColumnType::Int4,
            "bigint" | "int8" => ColumnType::Int8,
            "double precision" | "float8" => ColumnType::Float8,
            "numeric" => ColumnType::Numeric,
            "text" => ColumnType::Text,
            "boolean" | "bool" => ColumnType::Bool,
            "date" => ColumnType::Date,
            "timestamp without time zone" | "timestamp" => ColumnType::Timestamp,
            "timestamp with time zone" | "timestamptz" => ColumnType::Timestamptz,
            "jsonb" => ColumnType::Jsonb,
            "_text" | "text[]" => ColumnType::TextArray,
            _ => return None,
        })
    }

    /// From both columns of `information_schema.columns`.
    pub fn from_information_schema(data_type: &str, udt_name: &str) -> Option<ColumnType> {
        ColumnType::from_pg_name(if data_type == "ARRAY" { udt_name } else { data_type })
    }

    /// The type's name in SQL, e.g. for a `jsonb_to_recordset(...) AS x(c <type>)` column list.
    pub fn sql_name(self) -> &'static str {
        match self {
            ColumnType::Int2 => "smallint",
            ColumnType::Int4 => "integer",
            ColumnType::Int8 => "bigint",
            ColumnType::Float8 => "double precision",
            ColumnType::Numeric => "numeric",
            ColumnType::Text => "text",
            ColumnType::Bool => "boolean",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Timestamptz => "timestamptz",
            ColumnType::Jsonb => "jsonb",
            ColumnType::TextArray => "text[]",
        }
    }
}

/// Why [`column_text`] has no text for a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotStored {
    /// PostgreSQL refuses the value for the column's type: the write fails.
    #[error("PostgreSQL refuses the value for this column type")]
    Refused,
    /// PostgreSQL may or may not read the value; this module does not model that input form
    /// (date/time strings other than ISO 8601, array literals into `text[]`).
    #[error("this form of input is not modelled")]
    NotModelled,
}

/// `SELECT $1::jsonb::text`, where `$1` is the jsonb that serde_json's serialisation of `value`
/// parses to.
pub fn jsonb_text(value: &Json) -> String {
    let mut out = String::new();
    write_jsonb(&mut out, value);
    out
}

/// `to_jsonb(x.c)::text` after `jsonb_to_recordset(...) AS x(c <ty>)` stored `value` (a JSON
/// null, like a missing key, stores SQL NULL, which a row's jsonb shows as `null`). `None` when
/// PostgreSQL refuses the value or the input form is not modelled: [`column_text`] tells which.
pub fn column_jsonb_text(value: &Json, ty: ColumnType) -> Option<String> {
    column_text(value, ty).ok()
}

/// [`column_jsonb_text`], saying why there is no text.
pub fn column_text(value: &Json, ty: ColumnType) -> Result<String, NotStored> {
    Ok(store(value, ty)?.jsonb_text())
}

/// What the output function of `ty` prints for the value `jsonb_to_recordset(...) AS x(c <ty>)`
/// stored from `value` (as `record_out`, `array_out`, `format('%s', x.c)` and, for every type but
/// `boolean`, `x.c::text` print it); `None` for SQL NULL (a JSON null). Assumes the session's
/// settings the module documentation lists.
pub fn column_out(value: &Json, ty: ColumnType) -> Result<Option<String>, NotStored> {
    Ok(store(value, ty)?.out_text())
}

/// `record_out` (`ROW(...)::text`) of a row whose fields print as the given texts (from
/// [`column_out`]; `None` is SQL NULL): `(f1,f2,...)`, a NULL field empty, a field in double
/// quotes when it is empty or holds `"`, `\`, `(`, `)`, `,` or an ASCII space character (C's
/// `isspace`: space, `\t`, `\n`, `\v`, `\f`, `\r`), with `"` and `\` doubled inside the quotes.
pub fn record_text(fields: impl IntoIterator<Item = Option<String>>) -> String {
    let mut out = String::from("(");
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let Some(text) = field else { continue };
        let quoted = text.is_empty() || text.bytes().any(|b| b"\"\\(),".contains(&b) || is_pg_space(b));
        if quoted {
            out.push('"');
        }
        for c in text.chars() {
            if c == '"' || c == '\\' {
                out.push(c);
            }
            out.push(c);
        }
        if quoted {
            out.push('"');
        }
    }
    out.push(')');
    out
}

/// `to_jsonb(t)::text` of a row whose columns print as the given texts (from
/// [`column_jsonb_text`]): keys in jsonb's order, whatever order they come in.
pub fn row_jsonb_text<K: AsRef<str>>(columns: impl IntoIterator<Item = (K, String)>) -> String {
    let mut columns: Vec<(K, String)> = columns.into_iter().collect();
    columns.sort_by(|a, b| jsonb_key_order(a.0.as_ref(), b.0.as_ref()));
    let mut out = String::from("{");
    for (i, (name, text)) in columns.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_string(&mut out, name.as_ref());
        out.push_str(": ");
        out.push_str(text);
    }
    out.push('}');
    out
}

/// The digest of a set of row texts: sorted by bytes (`COLLATE "C"`), joined with `\n`,
/// SHA-256, lowercase hex. Duplicates count. No rows hash the empty text, as in [`digest_sql`]
/// (no row text is empty: a row prints as a JSON object or a record's `(...)`).
pub fn digest(rows: impl IntoIterator<Item = String>) -> String {
    let mut rows: Vec<String> = rows.into_iter().collect();
    rows.sort_unstable();
    let mut hasher = Sha256::new();
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            hasher.update(b"\n");
        }
        hasher.update(row.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// [`digest`] in SQL: an aggregate expression over the rows of a group, where `row_expr` is a
/// text expression (e.g. `ROW(t.a, t.b)::text` or `(to_jsonb(t) - 'work_id')::text`).
/// PostgreSQL evaluates `row_expr` twice per row (value and sort key); pass the column of a
/// subquery the planner keeps whole (`OFFSET 0`, or it is flattened and the expression is back)
/// to compute it once. The empty group gives the hash of the empty text, not NULL.
pub fn digest_sql(row_expr: &str) -> String {
    format!(
        "encode(sha256(convert_to(coalesce(string_agg({row_expr}, E'\\n' ORDER BY ({row_expr}) COLLATE \"C\"), ''), \
         'UTF8')), 'hex')"
    )
}

/// [`digest`] of a single row in SQL, without aggregating: for a table that holds at most one
/// row per movie, `row_expr` is that row's text. The digest of one row is the hash of its text
/// (nothing to sort or join), so the same fingerprint is met at a fraction of the cost: no sort
/// of wide rows, no aggregate state. A missing row is the caller's to map to the empty digest.
pub fn digest_one_sql(row_expr: &str) -> String {
    format!("encode(sha256(convert_to({row_expr}, 'UTF8')), 'hex')")
}

// ---- the value a column holds, and its two texts ----

/// A value as a column holds it once the type's input function has read it: one reading of the
/// JSON value, printed by `to_jsonb` ([`Stored::jsonb_text`]) or by the type's output function
/// ([`Stored::out_text`]).
enum Stored<'a> {
    Null,
    Integer(i64),
    Float8(f64),
    Numeric(Numeric),
    Text(String),
    Bool(bool),
    Date(Moment),
    /// The time as written (a zone is dropped).
    Timestamp(Moment),
    /// The time in UTC.
    Timestamptz(Moment),
    Jsonb(&'a Json),
    TextArray(TextArray),
}

/// What `jsonb_to_recordset` stores in a column of type `ty` for `value`.
fn store(value: &Json, ty: ColumnType) -> Result<Stored<'_>, NotStored> {
    if holds_nul(value) {
        return Err(NotStored::Refused);
    }
    if value.is_null() {
        return Ok(Stored::Null);
    }
    Ok(match ty {
        ColumnType::Jsonb => Stored::Jsonb(value),
        ColumnType::TextArray => Stored::TextArray(text_array(value)?),
        ColumnType::Date | ColumnType::Timestamp | ColumnType::Timestamptz => match value {
            Json::String(s) => datetime_in(s, ty)?,
            _ => return Err(NotStored::NotModelled),
        },
        ColumnType::Int2 => Stored::Integer(int_in(&input_text(value), i16::MIN.into(), i16::MAX.into())?),
        ColumnType::Int4 => Stored::Integer(int_in(&input_text(value), i32::MIN.into(), i32::MAX.into())?),
        ColumnType::Int8 => Stored::Integer(int_in(&input_text(value), i64::MIN, i64::MAX)?),
        ColumnType::Float8 => Stored::Float8(float8_in(&input_text(value))?),
        ColumnType::Numeric => Stored::Numeric(numeric_in(&input_text(value))?),
        ColumnType::Text => Stored::Text(input_text(value)),
        ColumnType::Bool => Stored::Bool(bool_in(&input_text(value))?),
    })
}

impl Stored<'_> {
    /// `to_jsonb(x.c)::text`: `null` for SQL NULL.
    fn jsonb_text(&self) -> String {
        match self {
            Stored::Null => "null".to_owned(),
            Stored::Integer(v) => v.to_string(),
            Stored::Float8(v) => float8_jsonb_text(*v),
            Stored::Numeric(n) => n.jsonb_text(),
            Stored::Text(s) => quoted_json(s),
            Stored::Bool(b) => b.to_string(),
            // to_jsonb prints dates and times in ISO 8601 whatever the DateStyle, as strings.
            Stored::Date(m) => quoted_json(&m.text(MomentStyle::Date)),
            Stored::Timestamp(m) => quoted_json(&m.text(MomentStyle::Iso8601 { zone: "" })),
            Stored::Timestamptz(m) => quoted_json(&m.text(MomentStyle::Iso8601 { zone: "+00:00" })),
            Stored::Jsonb(v) => jsonb_text(v),
            Stored::TextArray(a) => a.jsonb_text(),
        }
    }

    /// The type's output function (`DateStyle = 'ISO, MDY'`, `TimeZone = 'UTC'`,
    /// `extra_float_digits` above 0); `None` for SQL NULL.
    fn out_text(&self) -> Option<String> {
        Some(match self {
            Stored::Null => return None,
            Stored::Integer(v) => v.to_string(),
            Stored::Float8(v) => float8_out(*v),
            Stored::Numeric(n) => n.out_text(),
            Stored::Text(s) => s.clone(),
            // boolout; the cast `x.c::text` prints `true`/`false` instead (booltext).
            Stored::Bool(b) => (if *b { "t" } else { "f" }).to_owned(),
            Stored::Date(m) => m.text(MomentStyle::Date),
            Stored::Timestamp(m) => m.text(MomentStyle::IsoDateStyle { zone: "" }),
            // EncodeTimezone: `+HH`, with `:MM` only when the offset has minutes (UTC has none).
            Stored::Timestamptz(m) => m.text(MomentStyle::IsoDateStyle { zone: "+00" }),
            Stored::Jsonb(v) => jsonb_text(v),
            Stored::TextArray(a) => a.out_text(),
        })
    }
}

fn quoted_json(s: &str) -> String {
    let mut out = String::new();
    write_string(&mut out, s);
    out
}

// ---- jsonb output ----

fn write_jsonb(out: &mut String, value: &Json) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&json_number_text(n)),
        Json::String(s) => write_string(out, s),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_jsonb(out, item);
            }
            out.push(']');
        }
        Json::Object(map) => {
            let mut entries: Vec<(&String, &Json)> = map.iter().collect();
            entries.sort_by(|a, b| jsonb_key_order(a.0, b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_jsonb(out, item);
            }
            out.push('}');
        }
    }
}

/// jsonb keeps an object's keys ordered by byte length first, then by bytes (and the last of
/// duplicate keys, which a serde_json map cannot hold).
fn jsonb_key_order(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// PostgreSQL's `escape_json`: the two-character escapes, other control characters as
/// `\u00XX` in lowercase hex, everything else (`/`, DEL, non-ASCII) as it is.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON number as jsonb holds it: the text serde_json writes, read by `numeric_in`.
fn json_number_text(n: &serde_json::Number) -> String {
    match numeric_in(&n.to_string()) {
        Ok(Numeric::Finite(text)) => text,
        // serde_json's numbers are i64, u64 or finite f64, far inside numeric's range.
        _ => unreachable!("serde_json wrote a number numeric_in refuses: {n}"),
    }
}

fn holds_nul(value: &Json) -> bool {
    match value {
        Json::String(s) => s.contains('\0'),
        Json::Array(items) => items.iter().any(holds_nul),
        Json::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

// ---- the text a column's input function reads ----

/// What `jsonb_to_recordset` hands a column type's input function: a string unescaped, a
/// number as `numeric_out` prints it, `true`/`false`, an array or object as its jsonb text.
fn input_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => json_number_text(n),
        Json::Null | Json::Array(_) | Json::Object(_) => jsonb_text(value),
    }
}

/// C's `isspace` in the C and UTF-8 locales, which every input function here uses.
fn is_pg_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn trim_pg_space(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_pg_space(c as u8))
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_pg_space(b[i]) {
        i += 1;
    }
    i
}

// ---- integers: pg_strtoint16/32/64 ----

/// Spaces, an optional sign, decimal digits, spaces; nothing else (no `12.0`, `1e2`, `0x1A`).
fn int_in(text: &str, min: i64, max: i64) -> Result<i64, NotStored> {
    let b = text.as_bytes();
    let mut i = skip_space(b, 0);
    let negative = b.get(i) == Some(&b'-');
    if matches!(b.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return Err(NotStored::Refused);
    }
    let mut magnitude: i128 = 0;
    while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
        // Saturates well outside int8's range: only the comparison below matters.
        magnitude = (magnitude * 10 + i128::from(d - b'0')).min(i128::from(u64::MAX));
        i += 1;
    }
    if skip_space(b, i) != b.len() {
        return Err(NotStored::Refused);
    }
    let value = if negative { -magnitude } else { magnitude };
    if value < i128::from(min) || value > i128::from(max) {
        return Err(NotStored::Refused);
    }
    Ok(value as i64)
}

// ---- booleans: boolin ----

/// Spaces around a case-insensitive non-empty prefix of `true`, `false`, `yes`, `no`, of `on`
/// or `off` (at least two letters), or exactly `1` or `0`.
fn bool_in(text: &str) -> Result<bool, NotStored> {
    let word = trim_pg_space(text).to_ascii_lowercase();
    let prefix_of = |full: &str| !word.is_empty() && full.starts_with(word.as_str());
    match word.as_bytes().first() {
        Some(b't') if prefix_of("true") => Ok(true),
        Some(b'f') if prefix_of("false") => Ok(false),
        Some(b'y') if prefix_of("yes") => Ok(true),
        Some(b'n') if prefix_of("no") => Ok(false),
        Some(b'o') if word == "on" => Ok(true),
        Some(b'o') if word.len() >= 2 && prefix_of("off") => Ok(false),
        _ if word == "1" => Ok(true),
        _ if word == "0" => Ok(false),
        _ => Err(NotStored::Refused),
    }
}

// ---- numeric: numeric_in and numeric_out ----

/// A `numeric` value as `numeric_out` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Numeric {
    Finite(String),
    NaN,
    Infinity,
    NegInfinity,
}

impl Numeric {
    /// `to_jsonb` turns numeric output with an `N` or `n` in it into a string.
    fn jsonb_text(&self) -> String {
        match self {
            Numeric::Finite(text) => text.clone(),
            _ => quoted_json(&self.out_text()),
        }
    }

    /// numeric_out.
    fn out_text(&self) -> String {
        match self {
            Numeric::Finite(text) => text.clone(),
            Numeric::NaN => "NaN".to_owned(),
            Numeric::Infinity => "Infinity".to_owned(),
            Numeric::NegInfinity => "-Infinity".to_owned(),
        }
    }
}

/// numeric's storage limits: at most 16383 digits after the point, and a first digit below
/// 10^131072 (weight 32767 in base 10000).
const NUMERIC_DSCALE_MAX: i64 = 0x3FFF;
const NUMERIC_WEIGHT_MAX: i64 = i16::MAX as i64;
/// `numeric_in` refuses exponents this large outright (`INT_MAX / 2`).
const NUMERIC_EXPONENT_LIMIT: i64 = (i32::MAX / 2) as i64;

/// `numeric_in`: spaces, `NaN`/`Infinity`/`inf` in any case (signed infinities), or a sign,
/// digits with at most one point (`.5`, `5.`), an exponent read by `strtol` (so `1e 5` is read,
/// `1e+ 5` is not), spaces. The scale is the number of digits after the point less the
/// exponent (never below 0), and the value is printed with exactly that scale, unrounded.
fn numeric_in(text: &str) -> Result<Numeric, NotStored> {
    let b = text.as_bytes();
    let start = skip_space(b, 0);
    let rest = &b[start..];
    let special = [
        (&b"nan"[..], Numeric::NaN),
        (b"infinity", Numeric::Infinity),
        (b"+infinity", Numeric::Infinity),
        (b"-infinity", Numeric::NegInfinity),
        (b"inf", Numeric::Infinity),
        (b"+inf", Numeric::Infinity),
        (b"-inf", Numeric::NegInfinity),
    ]
    .into_iter()
    .find(|(word, _)| starts_with_ignore_case(rest, word));
    if let Some((word, value)) = special {
        return if skip_space(b, start + word.len()) == b.len() { Ok(value) } else { Err(NotStored::Refused) };
    }

    let mut i = start;
    let negative = b.get(i) == Some(&b'-');
    if matches!(b.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let mut digits = Vec::new();
    let mut point: Option<usize> = None;
    if b.get(i) == Some(&b'.') {
        point = Some(0);
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return Err(NotStored::Refused);
    }
    while let Some(&c) = b.get(i) {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if c == b'.' {
            if point.is_some() {
                return Err(NotStored::Refused);
            }
            point = Some(digits.len());
        } else {
            break;
        }
        i += 1;
    }
    let mut exponent: i64 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let (value, end) = strtol(b, i + 1).ok_or(NotStored::Refused)?;
        exponent = value;
        i = end;
    }
    if skip_space(b, i) != b.len() || exponent.abs() >= NUMERIC_EXPONENT_LIMIT {
        return Err(NotStored::Refused);
    }

    let len = digits.len() as i64;
    let before_point = point.map_or(len, |p| p as i64);
    let scale = (len - before_point - exponent).max(0);
    if scale > NUMERIC_DSCALE_MAX {
        return Err(NotStored::Refused);
    }
    // Where the decimal point falls in `digits` once the exponent is applied.
    let point_at = before_point + exponent;
    let Some(first_nonzero) = digits.iter().position(|&d| d != b'0') else {
        let mut zero = String::from("0");
        if scale > 0 {
            zero.push('.');
            zero.extend(std::iter::repeat_n('0', scale as usize));
        }
        return Ok(Numeric::Finite(zero));
    };
    let first_digit_power = point_at - first_nonzero as i64 - 1;
    if first_digit_power.div_euclid(4) > NUMERIC_WEIGHT_MAX {
        return Err(NotStored::Refused);
    }

    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if point_at <= first_nonzero as i64 {
        out.push('0');
    } else {
        let integer_end = point_at.min(len) as usize;
        out.extend(digits[first_nonzero..integer_end].iter().map(|&d| d as char));
        out.extend(std::iter::repeat_n('0', (point_at - len).max(0) as usize));
    }
    if scale > 0 {
        out.push('.');
        out.extend(std::iter::repeat_n('0', (-point_at).max(0) as usize));
        out.extend(digits[point_at.max(0) as usize..].iter().map(|&d| d as char));
    }
    Ok(Numeric::Finite(out))
}

/// C's `strtol` from `b[i..]`: spaces, a sign, decimal digits (saturating); `None` when there
/// are no digits.
fn strtol(b: &[u8], i: usize) -> Option<(i64, usize)> {
    let mut i = skip_space(b, i);
    let negative = b.get(i) == Some(&b'-');
    if matches!(b.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let digits_start = i;
    let mut value: i64 = 0;
    while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
        value = value.saturating_mul(10).saturating_add(i64::from(d - b'0'));
        i += 1;
    }
    (i > digits_start).then_some((if negative { -value } else { value }, i))
}

fn starts_with_ignore_case(haystack: &[u8], word: &[u8]) -> bool {
    haystack.len() >= word.len() && haystack[..word.len()].eq_ignore_ascii_case(word)
}

// ---- double precision: float8in (glibc's strtod) and float8out ----

/// `float8in`: spaces, then what glibc's `strtod` reads (decimal, hexadecimal `0x1.8p3`,
/// `inf`/`infinity`, `nan`/`nan(chars)`, any case, signed), then spaces. Refused when nothing
/// is read, something else follows, or the value overflows or underflows to zero (a
/// subnormal result is kept).
fn float8_in(text: &str) -> Result<f64, NotStored> {
    let b = text.as_bytes();
    let start = skip_space(b, 0);
    let (value, len, out_of_range) = strtod(&b[start..]).ok_or(NotStored::Refused)?;
    if out_of_range || skip_space(b, start + len) != b.len() {
        return Err(NotStored::Refused);
    }
    Ok(value)
}

/// `to_jsonb` of a double: `float8out`'s shortest round-trip digits re-read as numeric, or a
/// string for NaN and the infinities.
fn float8_jsonb_text(value: f64) -> String {
    if !value.is_finite() {
        return quoted_json(&float8_out(value));
    }
    let (digits, exponent) = shortest_decimal(value.abs());
    let sign = if value < 0.0 { "-" } else { "" };
    // numeric drops the sign of zero.
    match numeric_in(&format!("{sign}{digits}e{exponent}")) {
        Ok(Numeric::Finite(text)) => text,
        _ => unreachable!("a finite double is a numeric"),
    }
}

/// `float8out` with extra_float_digits above 0 (PostgreSQL's Ryu, `double_to_shortest_decimal`):
/// `NaN`, `Infinity`, `-Infinity`, `0`, `-0`; otherwise the shortest digits ([`shortest_decimal`])
/// in fixed notation when the first digit's decimal exponent is from -4 to 14 (`0.0001`,
/// `100000000000000`), else as `d.ddde±XX` with at least two exponent digits (`1e-05`,
/// `1.5e+20`, `1e+100`): printf's `%g` thresholds and exponent form.
fn float8_out(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if value.is_infinite() {
        return format!("{sign}Infinity");
    }
    if value == 0.0 {
        return format!("{sign}0");
    }
    let (digits, exponent) = shortest_decimal(value.abs());
    let digits = digits.to_string();
    let first_digit_power = exponent + digits.len() as i32 - 1;
    let mut out = String::from(sign);
    if (-4..15).contains(&first_digit_power) {
        if exponent >= 0 {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', exponent as usize));
        } else if first_digit_power >= 0 {
            let (integer, fraction) = digits.split_at(first_digit_power as usize + 1);
            out.push_str(integer);
            out.push('.');
            out.push_str(fraction);
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-first_digit_power - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let exponent_sign = if first_digit_power < 0 { '-' } else { '+' };
        out.push_str(&format!("e{exponent_sign}{:02}", first_digit_power.unsigned_abs()));
    }
    out
}

/// The decimal `float8out` prints for a finite, non-negative double with extra_float_digits > 0
/// (PostgreSQL's Ryu), as `digits * 10^exponent`: the fewest significant digits strictly
/// between the double's rounding bounds (the midpoints to its neighbours); of those, the one
/// nearest the double, the even one of two equally near, the next one up when the nearest is
/// at or below the lower bound.
///
/// Rust's shortest formatting finds the same digits but for two rules. It counts a bound as
/// inside when the significand is even (a reader rounding ties to even reads it back), which
/// PostgreSQL never does: 36246138722794416 is `3.624613872279442e16` in Rust (the upper bound)
/// and `3.6246138722794416e+16` in PostgreSQL. And it rounds a tie up: 1369122086870438.25 is
/// `…438.3` in Rust and `…438.2` in PostgreSQL.
fn shortest_decimal(value: f64) -> (u64, i32) {
    if value == 0.0 {
        return (0, 0);
    }
    let (digits, exponent) = parse_scientific(&format!("{value:e}"));
    if on_rounding_bound(value, digits, exponent) {
        return shortest_strictly_inside(value, digits.to_string().len());
    }
    if digits % 2 == 1 {
        for (even, below) in [(digits - 1, digits - 1), (digits + 1, digits)] {
            if halfway_above(value, below, exponent) && strictly_inside(value, even, exponent) {
                return strip_trailing_zeros(even, exponent);
            }
        }
    }
    (digits, exponent)
}

/// The first number of significant digits, from `shortest_len` on, with a decimal strictly
/// inside the rounding interval: the nearest (Rust's exact formatting rounds ties to even, as
/// PostgreSQL does), or the next one up.
fn shortest_strictly_inside(value: f64, shortest_len: usize) -> (u64, i32) {
    for significant in shortest_len..=17 {
        let (nearest, exponent) = parse_scientific(&format!("{value:.*e}", significant - 1));
        for candidate in [nearest, nearest + 1] {
            if strictly_inside(value, candidate, exponent) {
                return strip_trailing_zeros(candidate, exponent);
            }
        }
    }
    unreachable!("17 significant digits always lie strictly inside a double's rounding interval")
}

fn strictly_inside(value: f64, digits: u64, exponent: i32) -> bool {
    format!("{digits}e{exponent}").parse::<f64>() == Ok(value) && !on_rounding_bound(value, digits, exponent)
}

/// A finite positive double as `significand * 2^power`, and whether its lower neighbour is
/// half as far as its upper one (a power of two above the smallest normal).
fn binary_parts(value: f64) -> (u64, i32, bool) {
    let bits = value.to_bits();
    let biased = (bits >> 52) as i32;
    let fraction = bits & ((1 << 52) - 1);
    if biased == 0 {
        (fraction, -1074, false)
    } else {
        (fraction | 1 << 52, biased - 1075, fraction == 0 && biased > 1)
    }
}

/// Whether `digits * 10^exponent` is exactly one of the midpoints between `value` (finite,
/// positive) and its neighbours. Both midpoints are an odd number times a power of two.
fn on_rounding_bound(value: f64, digits: u64, exponent: i32) -> bool {
    let (significand, power, lower_closer) = binary_parts(value);
    let lower = if lower_closer { (4 * significand - 1, power - 2) } else { (2 * significand - 1, power - 1) };
    let upper = (2 * significand + 1, power - 1);
    [lower, upper].into_iter().any(|(odd, power_of_two)| decimal_equals_dyadic(digits, exponent, odd, power_of_two))
}

/// Whether `value` is exactly `(below + 1/2) * 10^exponent`.
fn halfway_above(value: f64, below: u64, exponent: i32) -> bool {
    let (significand, power, _) = binary_parts(value);
    let twos = significand.trailing_zeros() as i32;
    // 2 * value = (2 * below + 1) * 10^exponent
    decimal_equals_dyadic(2 * below + 1, exponent, significand >> twos, power + twos + 1)
}

/// `d.ddde±x` as (ddd, x - 2).
fn parse_scientific(text: &str) -> (u64, i32) {
    let (mantissa, exponent) = text.split_once('e').expect("scientific notation");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let fraction_len = mantissa.split_once('.').map_or(0, |(_, f)| f.len()) as i32;
    let exponent: i32 = exponent.parse().expect("an exponent");
    strip_trailing_zeros(digits.parse().expect("at most 17 digits"), exponent - fraction_len)
}

fn strip_trailing_zeros(mut digits: u64, mut exponent: i32) -> (u64, i32) {
    while digits != 0 && digits.is_multiple_of(10) {
        digits /= 10;
        exponent += 1;
    }
    (digits, exponent)
}

/// `digits * 10^exponent == odd * 2^power` (odd is odd), exactly.
fn decimal_equals_dyadic(digits: u64, exponent: i32, odd: u64, power: i32) -> bool {
    if digits == 0 {
        return false;
    }
    // digits * 10^exponent = (digits' * 5^exponent) * 2^(twos + exponent), digits' odd.
    let twos = digits.trailing_zeros() as i32;
    let odd_digits = u128::from(digits >> twos);
    let five_part = if exponent >= 0 {
        5u128.checked_pow(exponent as u32).and_then(|p| odd_digits.checked_mul(p))
    } else {
        5u128.checked_pow(exponent.unsigned_abs()).filter(|p| odd_digits % p == 0).map(|p| odd_digits / p)
    };
    twos + exponent == power && five_part == Some(u128::from(odd))
}

/// glibc's `strtod` on a prefix of `b` (no leading spaces): the value, how many bytes it read,
/// and whether it set ERANGE with a zero or infinite result (which float8in refuses).
fn strtod(b: &[u8]) -> Option<(f64, usize, bool)> {
    let sign_len = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let negative = b.first() == Some(&b'-');
    let rest = &b[sign_len..];
    let signed = |v: f64| if negative { -v } else { v };
    if starts_with_ignore_case(rest, b"inf") {
        let len = if starts_with_ignore_case(rest, b"infinity") { 8 } else { 3 };
        return Some((signed(f64::INFINITY), sign_len + len, false));
    }
    if starts_with_ignore_case(rest, b"nan") {
        let mut len = 3;
        if rest.get(3) == Some(&b'(') {
            let chars = rest[4..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
            if rest.get(4 + chars) == Some(&b')') {
                len = 4 + chars + 1;
            }
        }
        return Some((f64::NAN, sign_len + len, false));
    }
    if rest.len() > 2
        && rest[0] == b'0'
        && rest[1].eq_ignore_ascii_case(&b'x')
        && let Some((value, len, out_of_range)) = hex_float(&rest[2..])
    {
        return Some((signed(value), sign_len + 2 + len, out_of_range));
    }

    // Decimal: digits with at most one point (at least one digit), then an exponent if complete.
    let mut i = 0;
    let mut digits = 0;
    let mut nonzero = false;
    let mut seen_point = false;
    while let Some(&c) = rest.get(i) {
        if c.is_ascii_digit() {
            digits += 1;
            nonzero |= c != b'0';
        } else if c == b'.' && !seen_point {
            seen_point = true;
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if matches!(rest.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(rest.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exponent_digits = rest[j..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exponent_digits > 0 {
            i = j + exponent_digits;
        }
    }
    let len = sign_len + i;
    // Rust's parser rounds correctly, as glibc's does.
    let value: f64 = std::str::from_utf8(&b[..len]).ok()?.parse().ok()?;
    let out_of_range = value.is_infinite() || (value == 0.0 && nonzero);
    Some((value, len, out_of_range))
}

/// A hexadecimal float after its `0x`: hex digits with at most one point (at least one digit),
/// then `p` and a decimal binary exponent if complete. Rounded to nearest, ties to even.
fn hex_float(b: &[u8]) -> Option<(f64, usize, bool)> {
    // The value is (mantissa + a little, when `sticky`) * 2^exponent.
    let mut mantissa: u64 = 0;
    let mut exponent: i64 = 0;
    let mut sticky = false;
    let mut any_digit = false;
    let mut seen_point = false;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if let Some(d) = (c as char).to_digit(16) {
            any_digit = true;
            if mantissa >> 60 == 0 {
                mantissa = mantissa << 4 | u64::from(d);
                if seen_point {
                    exponent -= 4;
                }
            } else {
                // 61 bits and more are enough to round 53 bits correctly; the rest only
                // says whether anything follows.
                sticky |= d != 0;
                if !seen_point {
                    exponent += 4;
                }
            }
        } else if c == b'.' && !seen_point {
            seen_point = true;
        } else {
            break;
        }
        i += 1;
    }
    if !any_digit {
        return None;
    }
    if matches!(b.get(i), Some(b'p' | b'P')) {
        let mut j = i + 1;
        let negative = b.get(j) == Some(&b'-');
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let digits_start = j;
        let mut e: i64 = 0;
        while let Some(d) = b.get(j).filter(|d| d.is_ascii_digit()) {
            e = (e * 10 + i64::from(d - b'0')).min(1 << 40);
            j += 1;
        }
        if j > digits_start {
            exponent += if negative { -e } else { e };
            i = j;
        }
    }
    if mantissa == 0 {
        return Some((0.0, i, false));
    }
    let value = round_to_f64(mantissa, sticky, exponent);
    Some((value, i, value == 0.0 || value.is_infinite()))
}

/// (mantissa + sticky) * 2^exponent, rounded to the nearest double, ties to even.
fn round_to_f64(mantissa: u64, sticky: bool, exponent: i64) -> f64 {
    let shift_up = mantissa.leading_zeros();
    let mantissa = mantissa << shift_up;
    let exponent = exponent - i64::from(shift_up);
    // The power of two of the leading bit.
    let top = exponent + 63;
    if top > 1023 {
        return f64::INFINITY;
    }
    // Significant bits a double keeps at this magnitude (fewer when subnormal).
    let keep = if top >= -1022 { 53 } else { top + 1075 };
    if keep <= 0 {
        // Below the smallest subnormal's half: zero; above it: the smallest subnormal.
        let above_half = keep == 0 && (mantissa > 1 << 63 || sticky);
        return if above_half { f64::from_bits(1) } else { 0.0 };
    }
    let dropped = 64 - keep as u32;
    let mut kept = mantissa >> dropped;
    let rest = mantissa & ((1u64 << dropped) - 1);
    let half = 1u64 << (dropped - 1);
    if rest > half || (rest == half && (sticky || kept & 1 == 1)) {
        kept += 1;
    }
    // Exact: `kept` has at most 54 bits and the product lies on the doubles' grid.
    kept as f64 * power_of_two(exponent + i64::from(dropped))
}

/// 2^power for the powers a double can hold exactly (-1074 ..= 1023).
fn power_of_two(power: i64) -> f64 {
    if power >= -1022 { f64::from_bits(((power + 1023) as u64) << 52) } else { f64::from_bits(1u64 << (power + 1074)) }
}

// ---- date, timestamp, timestamptz ----

/// The modelled ISO forms (see the module's documentation), as PostgreSQL reads them: fields in
/// range (a day that exists, minutes below 60, seconds up to 60), the time of day at most
/// 24:00:00, fractions rounded to microseconds (`rint`), zones within ±15:59. A date column
/// keeps the date and drops the time; a timestamp drops the zone; a timestamptz is printed in
/// UTC.
fn datetime_in(text: &str, ty: ColumnType) -> Result<Stored<'static>, NotStored> {
    let trimmed = trim_pg_space(text);
    let special = trimmed.to_ascii_lowercase();
    let moment = if special == "infinity" {
        Moment::Infinity
    } else if special == "-infinity" {
        Moment::NegInfinity
    } else {
        let parsed = if special == "epoch" {
            IsoDateTime { date: NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date"), micros: 0, offset_seconds: None }
        } else {
            parse_iso(trimmed)?
        };
        let midnight = parsed.date.and_hms_opt(0, 0, 0).expect("midnight");
        let local = midnight + TimeDelta::microseconds(parsed.micros);
        Moment::At(match ty {
            ColumnType::Date => midnight,
            ColumnType::Timestamp => local,
            _ => local - TimeDelta::seconds(parsed.offset_seconds.unwrap_or(0)),
        })
    };
    Ok(match ty {
        ColumnType::Date => Stored::Date(moment),
        ColumnType::Timestamp => Stored::Timestamp(moment),
        _ => Stored::Timestamptz(moment),
    })
}

/// A date (at midnight), a timestamp, or a timestamptz in UTC.
enum Moment {
    Infinity,
    NegInfinity,
    At(NaiveDateTime),
}

/// How a [`Moment`] is printed.
#[derive(Clone, Copy)]
enum MomentStyle {
    /// `YYYY-MM-DD`, in every style.
    Date,
    /// `to_jsonb`: `YYYY-MM-DDTHH:MM:SS[.ffffff]` and the zone.
    Iso8601 { zone: &'static str },
    /// The output functions with `DateStyle = ISO`: `YYYY-MM-DD HH:MM:SS[.ffffff]` and the zone.
    IsoDateStyle { zone: &'static str },
}

impl Moment {
    /// Years before 1 print as `YYYY ... BC` (year 0 is 1 BC), after the zone; years after 9999
    /// with all their digits; the fraction without trailing zeros.
    fn text(&self, style: MomentStyle) -> String {
        let at = match self {
            Moment::Infinity => return "infinity".to_owned(),
            Moment::NegInfinity => return "-infinity".to_owned(),
            Moment::At(at) => at,
        };
        let (year, bc) = if at.year() >= 1 { (at.year(), "") } else { (1 - at.year(), " BC") };
        let mut out = format!("{year:04}-{:02}-{:02}", at.month(), at.day());
        let (separator, zone) = match style {
            MomentStyle::Date => {
                out.push_str(bc);
                return out;
            }
            MomentStyle::Iso8601 { zone } => ('T', zone),
            MomentStyle::IsoDateStyle { zone } => (' ', zone),
        };
        out.push_str(&format!("{separator}{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second()));
        let micros = at.nanosecond() / 1000;
        if micros > 0 {
            out.push_str(format!(".{micros:06}").trim_end_matches('0'));
        }
        out.push_str(zone);
        out.push_str(bc);
        out
    }
}

struct IsoDateTime {
    date: NaiveDate,
    /// Microseconds since the date's midnight, up to 24 hours.
    micros: i64,
    /// East of UTC.
    offset_seconds: Option<i64>,
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

fn parse_iso(s: &str) -> Result<IsoDateTime, NotStored> {
    let b = s.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Result<i64, NotStored> {
        let field = b.get(range).ok_or(NotStored::NotModelled)?;
        if field.iter().all(u8::is_ascii_digit) {
            Ok(field.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
        } else {
            Err(NotStored::NotModelled)
        }
    };
    let expect = |i: usize, allowed: &[u8]| -> Result<(), NotStored> {
        if b.get(i).is_some_and(|c| allowed.contains(c)) { Ok(()) } else { Err(NotStored::NotModelled) }
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    expect(4, b"-")?;
    expect(7, b"-")?;
    let mut micros = 0;
    let mut offset_seconds = None;
    let mut refused = false;
    if b.len() > 10 {
        expect(10, b"T ")?;
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        expect(13, b":")?;
        expect(16, b":")?;
        let mut i = 19;
        let mut fraction_micros = 0;
        if b.get(i) == Some(&b'.') {
            let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return Err(NotStored::NotModelled);
            }
            // ParseFractionalSecond: strtod of ".ddd", times a million, rint.
            let fraction: f64 = s[i..i + 1 + digits].parse().map_err(|_| NotStored::NotModelled)?;
            fraction_micros = (fraction * 1_000_000.0).round_ties_even() as i64;
            i += 1 + digits;
        }
        if i < b.len() {
            let zone = &s[i..];
            offset_seconds = Some(match zone.as_bytes() {
                b"Z" => 0,
                [sign @ (b'+' | b'-'), rest @ ..] => {
                    let (hours, minutes) = match *rest {
                        [h1, h2] => ([h1, h2], *b"00"),
                        [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => ([h1, h2], [m1, m2]),
                        _ => return Err(NotStored::NotModelled),
                    };
                    let two_digits = |f: [u8; 2]| -> Result<i64, NotStored> {
                        if f.iter().all(u8::is_ascii_digit) {
                            Ok(i64::from(f[0] - b'0') * 10 + i64::from(f[1] - b'0'))
                        } else {
                            Err(NotStored::NotModelled)
                        }
                    };
                    let (hours, minutes) = (two_digits(hours)?, two_digits(minutes)?);
                    refused |= hours > 15 || minutes > 59;
                    let seconds = hours * 3600 + minutes * 60;
                    if *sign == b'-' { -seconds } else { seconds }
                }
                _ => return Err(NotStored::NotModelled),
            });
        }
        micros = ((hour * 60 + minute) * 60 + second) * 1_000_000 + fraction_micros;
        refused |= minute > 59 || second > 60 || micros > MICROS_PER_DAY;
    }
    let date = u32::try_from(month)
        .ok()
        .zip(u32::try_from(day).ok())
        .and_then(|(m, d)| NaiveDate::from_ymd_opt(year as i32, m, d))
        .filter(|_| year >= 1);
    match date {
        Some(date) if !refused => Ok(IsoDateTime { date, micros, offset_seconds }),
        _ => Err(NotStored::Refused),
    }
}

// ---- text[] ----

/// A JSON array into `text[]`, as `populate_array` does it: the first element at each depth
/// decides the number of dimensions (an array there goes one deeper), sub-arrays must match in
/// length, deeper arrays and objects are elements (their jsonb text), and there are at most 6
/// dimensions. A string is an array literal for `array_in` (not modelled); anything else is
/// refused.
fn text_array(value: &Json) -> Result<TextArray, NotStored> {
    match value {
        Json::Array(_) => {}
        Json::String(_) => return Err(NotStored::NotModelled),
        _ => return Err(NotStored::Refused),
    }
    let mut shape = ArrayShape::default();
    shape.populate(value, 1)?;
    shape.dims[0] = shape.sizes[0];
    if shape.dims.len() > MAX_DIMENSIONS {
        return Err(NotStored::Refused);
    }
    if shape.dims.contains(&0) {
        // An array with no elements has no dimensions.
        return Ok(TextArray { dims: Vec::new(), elements: Vec::new() });
    }
    Ok(TextArray { dims: shape.dims, elements: shape.elements })
}

/// A `text[]` value: its dimensions' lengths (none when it is empty; the lower bounds are 1)
/// and its elements in row-major order (`None` is NULL).
struct TextArray {
    dims: Vec<usize>,
    elements: Vec<Option<String>>,
}

impl TextArray {
    /// `to_jsonb`: nested JSON arrays of strings and nulls.
    fn jsonb_text(&self) -> String {
        self.write(
            &mut |out, element| match element {
                Some(text) => write_string(out, text),
                None => out.push_str("null"),
            },
            &JSON_NESTING,
        )
    }

    /// `array_out`: `{a,NULL,"b c"}`, nested in braces; an element in double quotes when it is
    /// empty, is `NULL` in any letter case, or holds `"`, `\`, `{`, `}`, `,` or an ASCII space
    /// character (`array_isspace`: space, `\t`, `\n`, `\v`, `\f`, `\r`), with `"` and `\`
    /// escaped by a backslash inside the quotes.
    fn out_text(&self) -> String {
        self.write(
            &mut |out, element| match element {
                Some(text) => write_array_element(out, text),
                None => out.push_str("NULL"),
            },
            &ARRAY_OUT_NESTING,
        )
    }

    fn write(&self, element: &mut impl FnMut(&mut String, &Option<String>), nesting: &Nesting) -> String {
        let mut out = String::new();
        if self.dims.is_empty() {
            out.push(nesting.open);
            out.push(nesting.close);
        } else {
            write_dimension(&mut out, &self.dims, &mut self.elements.iter(), element, nesting);
        }
        out
    }
}

/// How an array's dimensions are written around and between their items.
struct Nesting {
    open: char,
    separator: &'static str,
    close: char,
}

const JSON_NESTING: Nesting = Nesting { open: '[', separator: ", ", close: ']' };
const ARRAY_OUT_NESTING: Nesting = Nesting { open: '{', separator: ",", close: '}' };

fn write_array_element(out: &mut String, text: &str) {
    let quoted = text.is_empty()
        || text.eq_ignore_ascii_case("NULL")
        || text.bytes().any(|b| b"\"\\{},".contains(&b) || is_pg_space(b));
    if !quoted {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// PostgreSQL's `MAXDIM`.
const MAX_DIMENSIONS: usize = 6;

#[derive(Default)]
struct ArrayShape {
    /// Each dimension's length, valid where `known`; both empty until the number of dimensions
    /// is known.
    dims: Vec<usize>,
    known: Vec<bool>,
    /// Elements counted so far at each depth.
    sizes: Vec<usize>,
    elements: Vec<Option<String>>,
}

impl ArrayShape {
    /// `populate_array_dim_jsonb`: `depth` counts from 1.
    fn populate(&mut self, value: &Json, depth: usize) -> Result<(), NotStored> {
        let Json::Array(items) = value else { return Err(NotStored::Refused) };
        if self.dims.is_empty() && depth > MAX_DIMENSIONS {
            // The dimensions will number more than PostgreSQL allows (and recursion stops here).
            return Err(NotStored::Refused);
        }
        if self.dims.is_empty() && items.first().is_none_or(|first| !first.is_array()) {
            self.dims = vec![0; depth];
            self.known = vec![false; depth];
            self.sizes = vec![0; depth];
        }
        for item in items {
            if !self.dims.is_empty() && depth >= self.dims.len() {
                self.elements.push(if item.is_null() { None } else { Some(input_text(item)) });
                self.sizes[depth - 1] += 1;
            } else {
                self.populate(item, depth + 1)?;
                // `populate_array_check_dimension` for the sub-array just read.
                let size = self.sizes[depth];
                if !self.known[depth] {
                    self.dims[depth] = size;
                    self.known[depth] = true;
                } else if self.dims[depth] != size {
                    return Err(NotStored::Refused);
                }
                self.sizes[depth] = 0;
                self.sizes[depth - 1] += 1;
            }
        }
        Ok(())
    }
}

fn write_dimension<'a>(
    out: &mut String,
    dims: &[usize],
    elements: &mut impl Iterator<Item = &'a Option<String>>,
    element: &mut impl FnMut(&mut String, &Option<String>),
    nesting: &Nesting,
) {
    out.push(nesting.open);
    for i in 0..dims[0] {
        if i > 0 {
            out.push_str(nesting.separator);
        }
        if dims.len() > 1 {
            write_dimension(out, &dims[1..], elements, element, nesting);
        } else {
            element(out, elements.next().expect("as many elements as the dimensions say"));
        }
    }
    out.push(nesting.close);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn column(value: Json, ty: ColumnType) -> Result<String, NotStored> {
        column_text(&value, ty)
    }

    #[test]
    fn keys_are_ordered_by_byte_length_then_bytes() {
        let v = json!({"b": 1, "a": 2, "aa": 3, "B": 4, "é": 5, "z": 6});
        assert_eq!(jsonb_text(&v), r#"{"B": 4, "a": 2, "b": 1, "z": 6, "aa": 3, "é": 5}"#);
        assert_eq!(jsonb_text(&json!({"a": {}, "b": []})), r#"{"a": {}, "b": []}"#);
        assert_eq!(jsonb_text(&json!([[], {}, null, true, false, "x"])), r#"[[], {}, null, true, false, "x"]"#);
    }

    #[test]
    fn strings_escape_quotes_backslashes_and_control_characters_only() {
        let v = json!("a\"b\\c/d\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}\u{80}é😀\u{2028}");
        assert_eq!(jsonb_text(&v), "\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}\u{80}é😀\u{2028}\"");
    }

    #[test]
    fn numbers_print_as_numeric_with_the_written_scale() {
        let v: Json = serde_json::from_str(
            "[1.0, 1e-7, 1.5e20, -0.0, 0, 12345678901234567890, -9223372036854775808, 0.1, 5e-324]",
        )
        .unwrap();
        let zeros = "0".repeat(323);
        assert_eq!(
            jsonb_text(&v),
            format!(
                "[1.0, 0.0000001, 150000000000000000000, 0.0, 0, 12345678901234567890, -9223372036854775808, 0.1, \
                 0.{zeros}5]"
            )
        );
    }

    #[test]
    fn numeric_reads_exponents_and_keeps_the_scale() {
        let cases = [
            ("1E+2", "100"),
            ("1.0e-7", "0.00000010"),
            ("-0.0e3", "0"),
            ("-0.00e1", "0.0"),
            ("-1.5e1", "-15"),
            ("1.50e1", "15.0"),
            ("123.456e-2", "1.23456"),
            ("0.0001e4", "1"),
            ("007.50", "7.50"),
            ("0e200000", "0"),
            (".5", "0.5"),
            ("5.", "5"),
            (" +1.0 ", "1.0"),
            ("1e 5", "100000"),
            ("1e\n+5", "100000"),
        ];
        for (input, printed) in cases {
            assert_eq!(numeric_in(input), Ok(Numeric::Finite(printed.to_owned())), "{input}");
        }
        for refused in
            ["1e+ 5", " 1 e5", "-nan", "infin", "1_000", "0x10", "1e", ".", "1e-16384", "0e-20000", "1e131072"]
        {
            assert_eq!(numeric_in(refused), Err(NotStored::Refused), "{refused}");
        }
        assert!(numeric_in("9.99e131071").is_ok());
        assert_eq!(numeric_in(" nan "), Ok(Numeric::NaN));
        assert_eq!(numeric_in("-inf"), Ok(Numeric::NegInfinity));
        assert_eq!(numeric_in("Infinity"), Ok(Numeric::Infinity));
    }

    #[test]
    fn integer_columns_read_integral_text_only() {
        for (value, printed) in
            [(json!("12"), "12"), (json!(" +12 "), "12"), (json!("\u{b}12\n"), "12"), (json!(-0), "0")]
        {
            assert_eq!(column(value.clone(), ColumnType::Int4), Ok(printed.to_owned()), "{value}");
        }
        // serde_json holds `1e2` and `1.5e1` as doubles and writes them `100.0` and `15.0`, which
        // an integer column refuses (PostgreSQL would read the texts `1e2` and `1.5e1`: numeric
        // prints them `100` and `15`).
        assert_eq!(column(serde_json::from_str("1e2").unwrap(), ColumnType::Int4), Err(NotStored::Refused));
        assert_eq!(numeric_in("1.5e1"), Ok(Numeric::Finite("15".to_owned())));
        for refused in [json!(12.0), json!(-0.0), json!("1e2"), json!(""), json!("1_000"), json!("0x1A"), json!(true)] {
            assert_eq!(column(refused.clone(), ColumnType::Int8), Err(NotStored::Refused), "{refused}");
        }
        assert_eq!(column(json!(32767), ColumnType::Int2), Ok("32767".to_owned()));
        assert_eq!(column(json!(32768), ColumnType::Int2), Err(NotStored::Refused));
        assert_eq!(column(json!(i64::MIN), ColumnType::Int8), Ok(i64::MIN.to_string()));
        assert_eq!(column(json!(9223372036854775808u64), ColumnType::Int8), Err(NotStored::Refused));
        assert_eq!(column(json!(null), ColumnType::Int2), Ok("null".to_owned()));
    }

    #[test]
    fn double_columns_print_the_shortest_digits_as_numeric() {
        let cases = [
            (json!(1.0), "1"),
            (json!(1e-5), "0.00001"),
            (json!(1e15), "1000000000000000"),
            (json!(-0.0), "0"),
            (json!(0.30000000000000004), "0.30000000000000004"),
            (json!(12345678901234567890u64), "12345678901234567000"),
            (json!(9007199254740993u64), "9007199254740992"),
            (json!("NaN"), "\"NaN\""),
            (json!("-inf"), "\"-Infinity\""),
            (json!("nan(x_1)"), "\"NaN\""),
            (json!(" 7.5 "), "7.5"),
            (json!("0x1p-2"), "0.25"),
            (json!("0x.8"), "0.5"),
            (json!("1.5E+3"), "1500"),
        ];
        for (value, printed) in cases {
            assert_eq!(column(value.clone(), ColumnType::Float8), Ok(printed.to_owned()), "{value}");
        }
        // On a rounding bound: Rust's shortest digits, PostgreSQL's strictly inside ones.
        assert_eq!(column(json!(-36246138722794416i64), ColumnType::Float8), Ok("-36246138722794416".to_owned()));
        assert_eq!(format!("{:e}", 36246138722794416f64), "3.624613872279442e16");
        // A tie between two shortest decimals: PostgreSQL's is the even one.
        let tie = 5_476_488_347_481_753.0 / 4.0; // 1369122086870438.25, exactly
        assert_eq!(column(json!(tie), ColumnType::Float8), Ok("1369122086870438.2".to_owned()));
        assert_eq!(format!("{tie:e}"), "1.3691220868704383e15");
        // Subnormal results are kept: the smallest double.
        let smallest = format!("0.{}5", "0".repeat(323));
        for input in ["2.5e-324", "0x1.0000000000001p-1075"] {
            assert_eq!(column(json!(input), ColumnType::Float8), Ok(smallest.clone()), "{input}");
        }
        for refused in
            ["1e400", "2.4e-324", "0x1p-1075", "0x1p1024", "0x1.fffffffffffff8p1023", "1e", "0x", "0x1p", "nan("]
        {
            assert_eq!(column(json!(refused), ColumnType::Float8), Err(NotStored::Refused), "{refused}");
        }
        assert_eq!(column(json!(true), ColumnType::Float8), Err(NotStored::Refused));
    }

    #[test]
    fn text_columns_hold_the_value_text() {
        // serde_json holds 12.50 as the double 12.5 and writes `12.5`: the scale PostgreSQL would
        // keep from the text `12.50` is gone before the value leaves Rust.
        let v: Json = serde_json::from_str(r#"[12.50, 1.0e-7, 100, true, {"b": 1, "a": [2]}]"#).unwrap();
        let texts: Vec<_> = v.as_array().unwrap().iter().map(|x| column_text(x, ColumnType::Text).unwrap()).collect();
        assert_eq!(texts, [r#""12.5""#, r#""0.0000001""#, r#""100""#, r#""true""#, r#""{\"a\": [2], \"b\": 1}""#]);
    }

    #[test]
    fn boolean_columns_read_prefixes_of_the_words() {
        for yes in ["t", "TRUE", " yes ", "y", "on", "1", "tru"] {
            assert_eq!(column(json!(yes), ColumnType::Bool), Ok("true".to_owned()), "{yes}");
        }
        for no in ["f", "fa", "false ", "n", "no", "of", "off", "0"] {
            assert_eq!(column(json!(no), ColumnType::Bool), Ok("false".to_owned()), "{no}");
        }
        for refused in ["o", "01", "truex", "", "2"] {
            assert_eq!(column(json!(refused), ColumnType::Bool), Err(NotStored::Refused), "{refused}");
        }
        assert_eq!(column(json!(1), ColumnType::Bool), Ok("true".to_owned()));
        assert_eq!(column(json!(1.0), ColumnType::Bool), Err(NotStored::Refused));
    }

    #[test]
    fn dates_and_timestamps_print_iso_8601() {
        use ColumnType::{Date, Timestamp, Timestamptz};
        let cases = [
            ("2014-10-02", Date, "2014-10-02"),
            ("2014-10-02 19:20:22", Date, "2014-10-02"),
            ("2014-10-02 24:00:00", Date, "2014-10-02"),
            ("2014-10-02 19:20:22", Timestamp, "2014-10-02T19:20:22"),
            ("2014-10-02T19:20:22.000Z", Timestamp, "2014-10-02T19:20:22"),
            ("2014-10-02T19:20:22.5+02:00", Timestamp, "2014-10-02T19:20:22.5"),
            ("2014-10-02 19:20:22.1234565", Timestamp, "2014-10-02T19:20:22.123456"),
            ("2014-10-02 19:20:22.1234575", Timestamp, "2014-10-02T19:20:22.123458"),
            ("9999-12-31 23:59:59.9999995", Timestamp, "10000-01-01T00:00:00"),
            ("2014-10-02 23:59:60", Timestamp, "2014-10-03T00:00:00"),
            ("2014-10-02 12:30:60.5", Timestamp, "2014-10-02T12:31:00.5"),
            ("2014-10-02 24:00:00.0000001", Timestamp, "2014-10-03T00:00:00"),
            ("2014-10-02T19:20:22+0230", Timestamptz, "2014-10-02T16:50:22+00:00"),
            ("2014-10-02T00:30:00+01", Timestamptz, "2014-10-01T23:30:00+00:00"),
            ("0001-01-01T00:00:00+01:00", Timestamptz, "0001-12-31T23:00:00+00:00 BC"),
            ("  EPOCH ", Timestamptz, "1970-01-01T00:00:00+00:00"),
            ("Infinity", Date, "infinity"),
            ("-infinity", Timestamp, "-infinity"),
        ];
        for (input, ty, printed) in cases {
            assert_eq!(column(json!(input), ty), Ok(format!("\"{printed}\"")), "{input} {ty:?}");
        }
        for refused in [
            "2014-02-30",
            "0000-01-01",
            "2014-10-02 25:00:00",
            "2014-10-02 24:00:01",
            "2014-10-02 23:59:60.5",
            "2014-10-02 23:59:60.0000006",
            "2014-10-02 23:60:00",
            "2014-10-02 12:30:61",
            "2014-10-02T19:20:22+16:00",
            "2014-10-02T19:20:22+02:60",
        ] {
            assert_eq!(column(json!(refused), Timestamp), Err(NotStored::Refused), "{refused}");
            assert_eq!(column(json!(refused), Date), Err(NotStored::Refused), "{refused}");
        }
        for unmodelled in ["October 2, 2014", "20141002", "now", "2014-10-2", "+infinity", "2014-10-02 19:20:22."] {
            assert_eq!(column(json!(unmodelled), Timestamp), Err(NotStored::NotModelled), "{unmodelled}");
        }
        assert_eq!(column(json!(20141002), Date), Err(NotStored::NotModelled));
    }

    #[test]
    fn text_arrays_take_their_shape_from_the_first_elements() {
        let cases = [
            (json!([]), "[]"),
            (json!([1, "a", null, true, [2], {"k": 1}]), r#"["1", "a", null, "true", "[2]", "{\"k\": 1}"]"#),
            (json!([["a", "b"], ["c", null]]), r#"[["a", "b"], ["c", null]]"#),
            (json!([["a"], [["b"]]]), r#"[["a"], ["[\"b\"]"]]"#),
            (json!([[]]), "[]"),
            (json!([[[]], [[]]]), "[]"),
            (json!([[[[[[1]]]]]]), r#"[[[[[["1"]]]]]]"#),
        ];
        for (value, printed) in cases {
            assert_eq!(column(value.clone(), ColumnType::TextArray), Ok(printed.to_owned()), "{value}");
        }
        for refused in [
            json!([["a"], ["b", "c"]]),
            json!([["a"], "b"]),
            json!([[], ["a"]]),
            json!([[[]], []]),
            json!([[[[[[[1]]]]]]]),
            json!(1),
            json!({"a": 1}),
        ] {
            assert_eq!(column(refused.clone(), ColumnType::TextArray), Err(NotStored::Refused), "{refused}");
        }
        assert_eq!(column(json!("{a,b}"), ColumnType::TextArray), Err(NotStored::NotModelled));
    }

    #[test]
    fn nul_is_refused_everywhere() {
        assert_eq!(column(json!("a\u{0}"), ColumnType::Text), Err(NotStored::Refused));
        assert_eq!(column(json!({"k\u{0}": 1}), ColumnType::Jsonb), Err(NotStored::Refused));
    }

    #[test]
    fn rows_order_their_columns_like_jsonb() {
        let row = row_jsonb_text([("title", "\"x\"".to_owned()), ("ord", "1".to_owned()), ("id", "2".to_owned())]);
        assert_eq!(row, r#"{"id": 2, "ord": 1, "title": "x"}"#);
    }

    #[test]
    fn the_digest_sorts_by_bytes_and_joins_with_newlines() {
        let rows = ["b".to_owned(), "a\u{e9}".to_owned(), "a".to_owned(), "B".to_owned()];
        let expected = hex::encode(Sha256::digest("B\na\na\u{e9}\nb".as_bytes()));
        assert_eq!(digest(rows), expected);
        assert_eq!(digest(Vec::new()), hex::encode(Sha256::digest(b"")));
        assert!(digest_sql("r").contains("string_agg(r, E'\\n' ORDER BY (r) COLLATE \"C\")"));
        assert_eq!(digest(["a\u{e9}".to_owned()]), hex::encode(Sha256::digest("a\u{e9}".as_bytes())));
    }

    fn out(value: Json, ty: ColumnType) -> Result<Option<String>, NotStored> {
        column_out(&value, ty)
    }

    #[test]
    fn doubles_print_as_float8out_formats_them() {
        // Server texts of `'<input>'::float8::text` with extra_float_digits = 1.
        let cases = [
            ("1e-5", "1e-05"),
            ("9.999e-5", "9.999e-05"),
            ("0.0001", "0.0001"),
            ("0.00012345", "0.00012345"),
            ("1e14", "100000000000000"),
            ("999999999999999.9", "999999999999999.9"),
            ("123456789012345.67", "123456789012345.67"),
            ("1e15", "1e+15"),
            ("1.5e20", "1.5e+20"),
            ("-1.2345e16", "-1.2345e+16"),
            ("12345678901234567890", "1.2345678901234567e+19"),
            ("9007199254740993", "9.007199254740992e+15"),
            ("1e100", "1e+100"),
            ("1e-100", "1e-100"),
            ("5e-324", "5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("0.1", "0.1"),
            ("100", "100"),
            ("0", "0"),
            ("-0", "-0"),
            ("NaN", "NaN"),
            ("-nan", "NaN"),
            ("inf", "Infinity"),
            ("-inf", "-Infinity"),
        ];
        for (input, printed) in cases {
            assert_eq!(out(json!(input), ColumnType::Float8), Ok(Some(printed.to_owned())), "{input}");
        }
        // The JSON number -0.0 reaches float8in as numeric's text `0.0`: only the string keeps the sign.
        assert_eq!(out(json!(-0.0), ColumnType::Float8), Ok(Some("0".to_owned())));
    }

    #[test]
    fn output_functions_print_each_type() {
        use ColumnType::*;
        let cases = [
            (json!(" 12 "), Int2, "12"),
            (json!(-9223372036854775808i64), Int8, "-9223372036854775808"),
            (json!("1.50"), Numeric, "1.50"),
            (json!("nan"), Numeric, "NaN"),
            (json!("-inf"), Numeric, "-Infinity"),
            (json!("a \"b\"\n"), Text, "a \"b\"\n"),
            (json!(12.5), Text, "12.5"),
            (json!("yes"), Bool, "t"),
            (json!(false), Bool, "f"),
            (json!("2014-10-02T19:20:22Z"), Date, "2014-10-02"),
            (json!("infinity"), Date, "infinity"),
            (json!("2014-10-02T19:20:22.120Z"), Timestamp, "2014-10-02 19:20:22.12"),
            (json!("9999-12-31 23:59:59.9999995"), Timestamp, "10000-01-01 00:00:00"),
            (json!("2014-10-02T19:20:22+02:30"), Timestamptz, "2014-10-02 16:50:22+00"),
            (json!("0001-01-01T00:00:00+01:00"), Timestamptz, "0001-12-31 23:00:00+00 BC"),
            (json!("-infinity"), Timestamptz, "-infinity"),
            (json!({"b": 1, "a": [1.0]}), Jsonb, r#"{"a": [1.0], "b": 1}"#),
            (json!("x"), Jsonb, r#""x""#),
        ];
        for (value, ty, printed) in cases {
            assert_eq!(out(value.clone(), ty), Ok(Some(printed.to_owned())), "{value} {ty:?}");
        }
        for ty in ColumnType::ALL {
            assert_eq!(out(json!(null), ty), Ok(None), "{ty:?}");
        }
        assert_eq!(out(json!("2014-02-30"), Date), Err(NotStored::Refused));
        assert_eq!(out(json!("a\u{0}"), Text), Err(NotStored::Refused));
        assert_eq!(out(json!("now"), Timestamp), Err(NotStored::NotModelled));
    }

    #[test]
    fn text_arrays_print_as_array_out_quotes_them() {
        let value =
            json!(["a", "c d", null, "", "NULL", "nUlL", "NULLx", "a\u{b}b", "{", "}", ",", "\"", "\\", "(", "é"]);
        assert_eq!(
            out(value, ColumnType::TextArray),
            Ok(Some(
                r#"{a,"c d",NULL,"","NULL","nUlL",NULLx,"a"#.to_owned() + "\u{b}" + r#"b","{","}",",","\"","\\",(,é}"#
            ))
        );
        assert_eq!(
            out(json!([["a", "b"], ["c", null]]), ColumnType::TextArray),
            Ok(Some("{{a,b},{c,NULL}}".to_owned()))
        );
        for empty in [json!([]), json!([[]]), json!([[[]], [[]]])] {
            assert_eq!(out(empty, ColumnType::TextArray), Ok(Some("{}".to_owned())));
        }
    }

    #[test]
    fn records_quote_fields_as_record_out_does() {
        let fields = |texts: &[Option<&str>]| record_text(texts.iter().map(|t| t.map(str::to_owned)));
        assert_eq!(
            fields(&[Some("1"), None, Some(""), Some("a b"), Some("{a}"), Some("NULL")]),
            r#"(1,,"","a b",{a},NULL)"#
        );
        assert_eq!(fields(&[Some(r#"a"b\c"#)]), r#"("a""b\\c")"#);
        for special in ["(", ")", ",", "\t", "\n", "\u{b}", "\u{c}", "\r"] {
            assert_eq!(fields(&[Some(special)]), format!("(\"{special}\")"));
        }
        // Only ASCII spaces: no-break space, U+0085, U+3000 are left bare.
        for bare in ["x\u{a0}y", "x\u{85}y", "\u{3000}", "\u{1}", "\u{7f}", "'", ";", "[]"] {
            assert_eq!(fields(&[Some(bare)]), format!("({bare})"));
        }
        assert_eq!(fields(&[None]), "()");
        assert_eq!(fields(&[None, None]), "(,)");
        assert_eq!(fields(&[]), "()");
    }

    #[test]
    fn column_types_come_from_information_schema_names() {
        assert_eq!(ColumnType::from_pg_name("double precision"), Some(ColumnType::Float8));
        assert_eq!(ColumnType::from_pg_name("timestamp without time zone"), Some(ColumnType::Timestamp));
        assert_eq!(ColumnType::from_information_schema("ARRAY", "_text"), Some(ColumnType::TextArray));
        assert_eq!(ColumnType::from_information_schema("ARRAY", "_int4"), None);
        assert_eq!(ColumnType::from_pg_name("ARRAY"), None);
        for ty in ColumnType::ALL {
            assert_eq!(ColumnType::from_pg_name(ty.sql_name()), Some(ty));
        }
    }
}
