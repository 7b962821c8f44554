//! What the Matrix specification's OpenAPI files say about each endpoint's request body: its
//! required top-level fields and a value for each, read from the files kept with the fuzz test
//! (`$ref`s to other files and to `#/components` resolved, `allOf` merged).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// One operation's request body as the specification describes it.
#[derive(Debug, Clone, Default)]
pub struct BodySpec {
    /// Whether the operation takes a JSON body at all.
    pub has_body: bool,
    /// Top-level fields the body must have, each with a value of the right shape.
    pub required: BTreeMap<String, Value>,
    /// The body must have some field, named elsewhere (`minProperties`, as the profile
    /// field whose name is in the path).
    pub needs_a_field: bool,
    /// The specification deprecates the operation (it is not a current one).
    pub deprecated: bool,
}

impl BodySpec {
    /// Whether every field of the body is optional (an empty object is a whole request).
    pub fn all_optional(&self) -> bool {
        self.required.is_empty() && !self.needs_a_field
    }
}

/// The specification's operations, keyed by method and full path with every `{param}`
/// written as `{}`.
pub struct Spec {
    operations: BTreeMap<(String, String), BodySpec>,
}

/// `/rooms/{roomId}/join` -> `/rooms/{}/join`.
pub fn path_shape(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn load(file: &Path) -> Value {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Follows `$ref` (to another file, to a fragment, or both) until a schema is reached.
fn resolve(value: &Value, file: &Path) -> (Value, PathBuf) {
    let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
        return (value.clone(), file.to_owned());
    };
    let (target, fragment) = reference.split_once('#').unwrap_or((reference, ""));
    let target_file = if target.is_empty() {
        file.to_owned()
    } else {
        file.parent().expect("spec dir").join(target)
    };
    // The files kept with the fuzz test are the client-server API's; a reference outside
    // them (the identity service's) resolves to an unknown schema.
    if !target_file.exists() {
        return (Value::Null, file.to_owned());
    }
    let mut doc = load(&target_file);
    for part in fragment.split('/').filter(|p| !p.is_empty()) {
        doc = doc[part].clone();
    }
    resolve(&doc, &target_file)
}

/// A value of the shape `schema` describes: its example, else a plain value of its type.
fn value_for(schema: &Value, file: &Path) -> Value {
    let (schema, file) = resolve(schema, file);
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        return parts
            .first()
            .map_or(json!({}), |first| value_for(first, &file));
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => json!("x"),
        Some("integer" | "number") => json!(1),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        _ => json!({}),
    }
}

/// The required fields of an object schema (with `allOf` parts merged) and a value for each.
fn required_fields(schema: &Value, file: &Path) -> BTreeMap<String, Value> {
    let (schema, file) = resolve(schema, file);
    let mut out = BTreeMap::new();
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.extend(required_fields(part, &file));
    }
    let example = schema.get("example");
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let value = example
            .and_then(|e| e.get(name))
            .cloned()
            .unwrap_or_else(|| value_for(&schema["properties"][name], &file));
        out.insert(name.to_owned(), value);
    }
    out
}

impl Spec {
    /// Reads every client-server API file under `dir`.
    pub fn load(dir: &Path) -> Self {
        let mut operations = BTreeMap::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("spec dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        for file in files {
            let doc = load(&file);
            let base = doc["servers"][0]["variables"]["basePath"]["default"]
                .as_str()
                .unwrap_or("/_matrix/client/v3")
                .to_owned();
            let Some(paths) = doc["paths"].as_object() else {
                continue;
            };
            for (path, item) in paths {
                for (method, op) in item.as_object().into_iter().flatten() {
                    let mut body = BodySpec {
                        deprecated: op["deprecated"].as_bool().unwrap_or(false),
                        ..BodySpec::default()
                    };
                    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
                    if !schema.is_null() {
                        body.has_body = true;
                        body.required = required_fields(schema, &file);
                        let (resolved, _) = resolve(schema, &file);
                        body.needs_a_field =
                            resolved["minProperties"].as_u64().is_some_and(|n| n > 0);
                    }
                    operations.insert(
                        (method.to_uppercase(), path_shape(&format!("{base}{path}"))),
                        body,
                    );
                }
            }
        }
        Self { operations }
    }

    /// Every operation: `(method, path shape, body)`.
    pub fn operations(&self) -> impl Iterator<Item = (&str, &str, &BodySpec)> {
        self.operations
            .iter()
            .map(|((method, path), body)| (method.as_str(), path.as_str(), body))
    }

    /// The body of `method path`, when the specification has the operation.
    pub fn body(&self, method: &str, path: &str) -> Option<&BodySpec> {
        self.operations.get(&(method.to_owned(), path_shape(path)))
    }
}
