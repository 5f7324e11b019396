//! What `doctor`, `plan` and `status` print: the documented JSON (schema 1,
//! docs/json.md) and stdout that a reader going away does not break.

use serde::Serialize;

/// The version of the JSON that `doctor --json`, `plan --json` and
/// `status --json` print (docs/json.md). Raised when a field changes meaning
/// or goes away; new fields may appear within a version.
pub const JSON_SCHEMA: u64 = 1;

/// The documented JSON form of `v`: with `"schema": 1`, a fact that could
/// not be read as `{"error": "..."}` and one that could as its value, file
/// modes as octal strings ("0755"). No Rust internals (`{"Ok": ...}`).
pub fn to_schema(v: &impl Serialize) -> serde_json::Result<serde_json::Value> {
    let mut out = serde_json::Map::new();
    out.insert("schema".into(), JSON_SCHEMA.into());
    match schema_value(serde_json::to_value(v)?) {
        serde_json::Value::Object(m) => out.extend(m),
        other => {
            out.insert("value".into(), other);
        }
    }
    Ok(serde_json::Value::Object(out))
}

pub(super) fn schema_value(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) if m.len() == 1 && (m.contains_key("Ok") || m.contains_key("Err")) => {
            match m.into_iter().next() {
                Some((k, inner)) if k == "Ok" => schema_value(inner),
                Some((_, e)) => serde_json::json!({ "error": schema_value(e) }),
                None => Value::Null,
            }
        }
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| match v {
                    Value::Number(n) if k == "mode" => {
                        let text = n.as_u64().map(|m| format!("{m:04o}"));
                        (k, text.map_or(Value::Number(n), Value::String))
                    }
                    v => (k, schema_value(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(schema_value).collect()),
        v => v,
    }
}

/// Print `v` in the documented schema; Err(exit code) when it cannot be encoded.
pub(super) fn emit_json(v: &impl Serialize) -> Result<(), i32> {
    match to_schema(v).and_then(|v| serde_json::to_string_pretty(&v)) {
        Ok(s) => {
            emit(&format!("{s}\n"));
            Ok(())
        }
        Err(e) => {
            eprintln!("dind-init: error: cannot encode the report: {e}");
            Err(1)
        }
    }
}

/// Write to stdout. A reader that went away (`| head`) is not an error and
/// never a panic: the rest of the output is simply not wanted.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON schema: versioned, no `{"Ok": ...}`, errors as
    /// `{"error": ...}`, modes as octal strings.
    #[test]
    fn json_follows_the_documented_schema() {
        #[derive(Serialize)]
        struct T {
            fuse: Result<(), String>,
            version: Result<String, String>,
            dirs: Vec<crate::plan::Action>,
            plan: Result<u8, String>,
        }
        let v = to_schema(&T {
            fuse: Err("ENOENT".into()),
            version: Ok("29.0".into()),
            dirs: vec![crate::plan::Action::CreateDir {
                path: "/x".into(),
                mode: 0o710,
            }],
            plan: Ok(3),
        })
        .unwrap();
        assert_eq!(v["schema"], serde_json::json!(1));
        assert_eq!(v["fuse"], serde_json::json!({"error": "ENOENT"}));
        assert_eq!(v["version"], serde_json::json!("29.0"));
        assert_eq!(v["plan"], serde_json::json!(3));
        assert_eq!(v["dirs"][0]["mode"], serde_json::json!("0710"));
        let text = v.to_string();
        assert!(
            !text.contains("\"Ok\"") && !text.contains("\"Err\""),
            "{text}"
        );
    }
}
