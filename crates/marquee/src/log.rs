//! Structured logs: one JSON object per line on stderr (Spin forwards a component's stderr).
//! Callers pass only non-secret fields; secrets are typed [`Secret`](crate::config::Secret)
//! and cannot be serialised.

use serde_json::{Value as Json, json};

pub fn event(level: &str, function: &str, message: &str, fields: Json) {
    let mut line = json!({"level": level, "function": function, "message": message});
    if let (Some(obj), Json::Object(extra)) = (line.as_object_mut(), fields) {
        obj.extend(extra);
    }
    eprintln!("{line}");
}
