//! The error half of the OpenAPI document, written once for every operation instead of in each
//! handler's annotation.
//!
//! Why: every route answers errors the same way (problem+json, from [`crate::ApiError`]) and for
//! the same reasons — an unreadable query or a control character (400), no or a bad credential
//! (401), a role that may not (403), a missing record (404), a conflict (409), a body too large
//! (413), not JSON (415), invalid fields (422), too many requests (429), the database unavailable
//! or a request over its time (503). Handlers listed a few of these, without descriptions, which
//! OpenAPI 3.1 requires (143 validator errors). [`complete`] gives every response a description,
//! moves error bodies to `application/problem+json`, and adds the shared responses an operation
//! can give but does not list, so clients and generated tests see what the server really answers.

use serde_json::{Map, Value, json};

/// Adds descriptions, problem+json content and the shared error responses to every operation of
/// an OpenAPI document (as JSON). `Problem` must be a schema of the document.
pub fn complete(mut doc: Value) -> Value {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return doc;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, op) in item.iter_mut() {
            if !matches!(method.as_str(), "get" | "put" | "post" | "delete" | "patch" | "head" | "options") {
                continue;
            }
            let Some(op) = op.as_object_mut() else { continue };
            complete_operation(path, method, op);
        }
    }
    doc
}

/// The shared responses an operation may give, by what it takes.
fn shared_statuses(path: &str, method: &str, op: &Map<String, Value>) -> Vec<u16> {
    // `security: [{}]` marks a route anyone may call.
    let public = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|r| r.as_object().is_some_and(Map::is_empty)));
    let has_body = op.contains_key("requestBody");
    let has_params = op.get("parameters").and_then(Value::as_array).is_some_and(|p| !p.is_empty());
    let writes = matches!(method, "post" | "put" | "patch" | "delete");
    let mut statuses = vec![400];
    if !public {
        statuses.extend([401, 403]);
    }
    if path.contains('{') {
        statuses.push(404);
    }
    if writes {
        statuses.push(409);
    }
    if has_body || writes {
        statuses.extend([413, 415]);
    }
    if has_body || has_params {
        statuses.push(422);
    }
    statuses.extend([429, 503]);
    statuses
}

fn complete_operation(path: &str, method: &str, op: &mut Map<String, Value>) {
    let shared = shared_statuses(path, method, op);
    let responses = op.entry("responses").or_insert_with(|| Value::Object(Map::new()));
    let Some(responses) = responses.as_object_mut() else { return };
    for status in shared {
        responses.entry(status.to_string()).or_insert_with(|| json!({}));
    }
    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else { continue };
        if response.contains_key("$ref") {
            continue;
        }
        let code = status.parse::<u16>().ok();
        let described = response.get("description").and_then(Value::as_str).is_some_and(|d| !d.is_empty());
        if !described {
            response.insert(String::from("description"), Value::String(describe(code)));
        }
        if code.is_some_and(|c| c >= 400) {
            as_problem(response);
        }
    }
}

/// An error response's body is a problem, whatever media type the annotation gave it.
fn as_problem(response: &mut Map<String, Value>) {
    let problem = json!({"schema": {"$ref": "#/components/schemas/Problem"}});
    let content = response.entry("content").or_insert_with(|| Value::Object(Map::new()));
    let Some(content) = content.as_object_mut() else { return };
    let schema = content.remove("application/json").unwrap_or(problem);
    content.entry("application/problem+json").or_insert(schema);
}

fn describe(status: Option<u16>) -> String {
    let text = match status {
        Some(400) => {
            "The request could not be read: malformed JSON, an unknown or unparsable query parameter, or control characters (errors[] names the field)"
        }
        Some(401) => "No credential, or one that is wrong, expired or revoked",
        Some(403) => "The caller's role may not use this route, or the CSRF check failed",
        Some(404) => "No such record within the caller's scope",
        Some(409) => "The change conflicts with existing records (code says which)",
        Some(413) => "The request body is larger than the server accepts",
        Some(415) => "The request body is not JSON",
        Some(422) => "Invalid fields; errors[] lists every one",
        Some(429) => "Too many requests; retry after Retry-After seconds",
        Some(503) => "The database is unavailable or the request ran too long; retry shortly",
        Some(c) => axum::http::StatusCode::from_u16(c).ok().and_then(|s| s.canonical_reason()).unwrap_or("Response"),
        None => "Response",
    };
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_response_gets_a_description_and_errors_are_problems() {
        let doc = json!({"paths": {
            "/api/v1/agents/{id}": {"patch": {
                "requestBody": {"content": {}},
                "responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Agent"}}}},
                    "422": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
                }
            }},
            "/healthz": {"get": {"security": [{}], "responses": {"200": {"description": "Alive"}}}}
        }});
        let doc = complete(doc);
        let patch = &doc["paths"]["/api/v1/agents/{id}"]["patch"]["responses"];
        assert_eq!(patch["200"]["description"], "OK");
        assert!(patch["200"]["content"]["application/json"].is_object(), "success bodies stay JSON");
        for s in ["400", "401", "403", "404", "409", "413", "415", "422", "429", "503"] {
            assert!(patch[s]["description"].as_str().is_some_and(|d| !d.is_empty()), "{s}");
            assert!(patch[s]["content"]["application/problem+json"].is_object(), "{s}");
            assert!(patch[s]["content"].get("application/json").is_none(), "{s}");
        }
        let health = &doc["paths"]["/healthz"]["get"]["responses"];
        assert_eq!(health["200"]["description"], "Alive", "a given description stays");
        assert!(health.get("401").is_none(), "public routes need no credential");
    }
}
