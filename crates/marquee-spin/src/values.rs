//! Between the library's port [`Value`]s and the Spin host's PostgreSQL values
//! (`spin_sdk::pg`): what each value binds as, and how each column reads back. Pure, so it is
//! tested natively.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use marquee::ports::{DbError, Value};
use spin_sdk::pg::{DbValue, ParameterValue};

/// What a port value binds as: the same Rust type the Spin host hands to tokio-postgres.
pub(crate) fn param(value: &Value) -> Result<ParameterValue, DbError> {
    Ok(match value {
        Value::Null => ParameterValue::DbNull,
        Value::Bool(v) => ParameterValue::Boolean(*v),
        Value::Int16(v) => ParameterValue::Int16(*v),
        Value::Int32(v) => ParameterValue::Int32(*v),
        Value::Int64(v) => ParameterValue::Int64(*v),
        Value::Float64(v) => ParameterValue::Floating64(*v),
        Value::Text(v) => ParameterValue::Str(v.clone()),
        Value::Date(d) => ParameterValue::Date((d.year(), d.month() as u8, d.day() as u8)),
        Value::DateTime(t) => ParameterValue::Datetime((
            t.year(),
            t.month() as u8,
            t.day() as u8,
            t.hour() as u8,
            t.minute() as u8,
            t.second() as u8,
            t.nanosecond(),
        )),
        Value::Jsonb(j) => ParameterValue::Jsonb(serde_json::to_vec(j).expect("JSON values serialise")),
        Value::Decimal(d) => ParameterValue::Decimal(d.clone()),
        Value::ArrayInt32(v) => ParameterValue::ArrayInt32(v.clone()),
        Value::ArrayInt64(v) => ParameterValue::ArrayInt64(v.clone()),
        Value::ArrayText(v) => ParameterValue::ArrayStr(v.clone()),
        Value::Unsupported(ty) => {
            return Err(DbError::Query { code: None, message: format!("cannot bind a value of type {ty}") });
        }
    })
}

/// A column as a port value; what the library cannot use (an invalid date, a type the port has
/// no variant for) becomes [`Value::Unsupported`], named, so reading it fails with that name.
pub(crate) fn column(value: &DbValue) -> Value {
    match value {
        DbValue::DbNull => Value::Null,
        DbValue::Boolean(v) => Value::Bool(*v),
        DbValue::Int16(v) => Value::Int16(*v),
        DbValue::Int32(v) => Value::Int32(*v),
        DbValue::Int64(v) => Value::Int64(*v),
        DbValue::Floating64(v) => Value::Float64(*v),
        DbValue::Str(v) => Value::Text(v.clone()),
        DbValue::Date((y, m, d)) => NaiveDate::from_ymd_opt(*y, (*m).into(), (*d).into())
            .map_or(Value::Unsupported("invalid date".into()), Value::Date),
        DbValue::Datetime((y, mo, d, h, mi, s, ns)) => NaiveDate::from_ymd_opt(*y, (*mo).into(), (*d).into())
            .zip(NaiveTime::from_hms_nano_opt((*h).into(), (*mi).into(), (*s).into(), *ns))
            .map_or(Value::Unsupported("invalid timestamp".into()), |(d, t)| Value::DateTime(NaiveDateTime::new(d, t))),
        DbValue::Jsonb(bytes) => {
            serde_json::from_slice(bytes).map_or(Value::Unsupported("invalid jsonb".into()), Value::Jsonb)
        }
        DbValue::Decimal(v) => Value::Decimal(v.clone()),
        DbValue::ArrayInt32(v) => Value::ArrayInt32(v.clone()),
        DbValue::ArrayInt64(v) => Value::ArrayInt64(v.clone()),
        DbValue::ArrayStr(v) => Value::ArrayText(v.clone()),
        other => Value::Unsupported(format!("{other:?}").split('(').next().unwrap_or("unknown").to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values() -> Vec<Value> {
        let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        vec![
            Value::Null,
            Value::Bool(true),
            Value::Int16(-7),
            Value::Int32(i32::MAX),
            Value::Int64(i64::MIN),
            Value::Float64(6.25),
            Value::Text("Amélie".into()),
            Value::Date(date),
            Value::DateTime(date.and_hms_nano_opt(23, 59, 58, 123_456_789).unwrap()),
            Value::Jsonb(json!({"cast": [{"name": "Ed", "order": 0}], "adult": false})),
            Value::Decimal("12.50".into()),
            Value::ArrayInt32(vec![Some(1), None, Some(-3)]),
            Value::ArrayInt64(vec![Some(550), None]),
            Value::ArrayText(vec![Some("a".into()), None]),
        ]
    }

    /// The column the host hands back for a parameter of the same type (same-named variants).
    fn as_column(p: ParameterValue) -> DbValue {
        match p {
            ParameterValue::DbNull => DbValue::DbNull,
            ParameterValue::Boolean(v) => DbValue::Boolean(v),
            ParameterValue::Int16(v) => DbValue::Int16(v),
            ParameterValue::Int32(v) => DbValue::Int32(v),
            ParameterValue::Int64(v) => DbValue::Int64(v),
            ParameterValue::Floating64(v) => DbValue::Floating64(v),
            ParameterValue::Str(v) => DbValue::Str(v),
            ParameterValue::Date(v) => DbValue::Date(v),
            ParameterValue::Datetime(v) => DbValue::Datetime(v),
            ParameterValue::Jsonb(v) => DbValue::Jsonb(v),
            ParameterValue::Decimal(v) => DbValue::Decimal(v),
            ParameterValue::ArrayInt32(v) => DbValue::ArrayInt32(v),
            ParameterValue::ArrayInt64(v) => DbValue::ArrayInt64(v),
            ParameterValue::ArrayStr(v) => DbValue::ArrayStr(v),
            other => panic!("param never produces {other:?}"),
        }
    }

    #[test]
    fn every_value_binds_as_the_host_type_of_its_column() {
        let expected = [
            "DbNull",
            "Boolean(true)",
            "Int16(-7)",
            "Int32(2147483647)",
            "Int64(-9223372036854775808)",
            "Floating64(6.25)",
            "Str(\"Amélie\")",
            "Date((2024, 2, 29))",
            "Datetime((2024, 2, 29, 23, 59, 58, 123456789))",
            "Jsonb(_)",
            "Decimal(\"12.50\")",
            "ArrayInt32([Some(1), None, Some(-3)])",
            "ArrayInt64([Some(550), None])",
            "ArrayStr([Some(\"a\"), None])",
        ];
        for (value, expected) in values().iter().zip(expected) {
            let bound = param(value).unwrap();
            match (&bound, value) {
                // JSON goes over as its text; key order is serde_json's.
                (ParameterValue::Jsonb(bytes), Value::Jsonb(j)) => {
                    assert_eq!(serde_json::from_slice::<serde_json::Value>(bytes).unwrap(), *j)
                }
                _ => assert_eq!(format!("{bound:?}"), format!("ParameterValue::{expected}"), "{value:?}"),
            }
        }
    }

    #[test]
    fn every_value_reads_back_as_itself() {
        for value in values() {
            assert_eq!(column(&as_column(param(&value).unwrap())), value);
        }
    }

    #[test]
    fn an_unsupported_value_is_refused_before_the_statement() {
        let error = param(&Value::Unsupported("timestamptz".into())).unwrap_err();
        assert!(error.to_string().contains("timestamptz"), "{error}");
    }

    #[test]
    fn columns_the_library_cannot_use_come_back_unsupported_and_named() {
        let cases = [
            (DbValue::Date((2023, 2, 30)), "invalid date"),
            (DbValue::Datetime((2023, 1, 1, 25, 0, 0, 0)), "invalid timestamp"),
            (DbValue::Jsonb(b"{not json".to_vec()), "invalid jsonb"),
            (DbValue::Uuid("6f1c…".into()), "Uuid"),
            (DbValue::Timestamp(1_700_000_000), "Timestamp"),
            (DbValue::Binary(vec![1, 2]), "Binary"),
            (DbValue::ArrayDecimal(vec![Some("1.5".into())]), "ArrayDecimal"),
            (DbValue::Unsupported(vec![]), "Unsupported"),
        ];
        for (column_value, name) in cases {
            // The host's Debug name of the variant (`DbValue::Uuid`), or what was wrong.
            let name = if name.starts_with("invalid") { name.to_owned() } else { format!("DbValue::{name}") };
            assert_eq!(column(&column_value), Value::Unsupported(name), "{column_value:?}");
        }
    }
}
