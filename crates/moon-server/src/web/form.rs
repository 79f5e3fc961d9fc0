//! Form plumbing shared by the console's pages: reading a urlencoded body, and drawing inputs
//! with their validation errors beside them (linked with `aria-describedby`).

use axum::body::Bytes;
use maud::{Markup, html};
use moon_domain::FieldError;
use serde::de::DeserializeOwned;

use moon_http::ApiError;

/// Parses an `application/x-www-form-urlencoded` body into `T` (fields as optional strings).
pub fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::bad_request("invalid_form", format!("the form could not be read: {e}")))
}

/// A blank form field means "not given".
pub fn given(raw: &Option<String>) -> Option<String> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// What went wrong with a submitted form: the field errors, or one sentence for the whole form.
#[derive(Debug, Default)]
pub struct Problems {
    /// Errors to show beside their fields.
    pub fields: Vec<FieldError>,
    /// A problem not tied to a field (a conflict, a refusal).
    pub general: Option<String>,
}

impl Problems {
    /// Sorts an API error into field errors and a general message; a conflict on a unique value
    /// is shown beside the field that holds it.
    pub fn from_error(e: &ApiError) -> Self {
        let field = match e.code() {
            "duplicate_agent_code" => Some("agent_code"),
            "duplicate_product_name" => Some("product_name"),
            "duplicate_policy_number" => Some("policy_number"),
            "duplicate_username" => Some("username"),
            _ => None,
        };
        match field {
            Some(f) => Problems { fields: vec![FieldError::new(f, e.code(), e.detail())], general: None },
            None if !e.field_errors().is_empty() => Problems { fields: e.field_errors().to_vec(), general: None },
            None => Problems { fields: Vec::new(), general: Some(e.detail().to_owned()) },
        }
    }

    /// The error for `field`, if any.
    pub fn on(&self, field: &str) -> Option<&FieldError> {
        self.fields.iter().find(|e| e.field == field)
    }

    /// Whether there is anything to show.
    pub fn any(&self) -> bool {
        !self.fields.is_empty() || self.general.is_some()
    }

    /// A summary at the top of the form, announced to screen readers.
    pub fn summary(&self) -> Markup {
        html! {
            @if self.any() {
                div.alert role="alert" {
                    @if let Some(g) = &self.general { p { (g) } }
                    @if !self.fields.is_empty() {
                        p { "Please correct the highlighted fields:" }
                        ul { @for e in &self.fields { li { (e.message) } } }
                    }
                }
            }
        }
    }
}

/// Input kinds and their attributes.
pub struct Input<'a> {
    /// Field name, as the API calls it.
    pub name: &'a str,
    /// Visible label.
    pub label: &'a str,
    /// Current value.
    pub value: &'a str,
    /// `text`, `email`, `date`, `password`, ...
    pub kind: &'a str,
    /// Marked required.
    pub required: bool,
}

/// A labelled input with its error beside it (ids `f-<name>`).
pub fn input(i: Input<'_>, problems: &Problems) -> Markup {
    input_in("f", i, problems)
}

/// A search or filter input (ids `q-<name>`), so a page with a filter form and an edit form
/// keeps every id unique and every label pointing at its own input.
pub fn filter_input(i: Input<'_>) -> Markup {
    input_in("q", i, &Problems::default())
}

fn input_in(prefix: &str, i: Input<'_>, problems: &Problems) -> Markup {
    let id = format!("{prefix}-{}", i.name);
    let err = problems.on(i.name);
    let err_id = format!("{id}-error");
    html! {
        div.field.invalid[err.is_some()] {
            label for=(id) { (i.label) @if i.required { " " span.req aria-hidden="true" { "*" } } }
            input #(id) type=(i.kind) name=(i.name) value=(i.value) required[i.required]
                aria-invalid=[err.map(|_| "true")] aria-describedby=[err.map(|_| err_id.as_str())]
                inputmode=[(i.name == "amount" || i.name == "target_amount").then_some("decimal")];
            @if let Some(e) = err { p.error #(err_id) { (e.message) } }
        }
    }
}

/// A labelled select with its error beside it; `options` are (value, label).
pub fn select(name: &str, label: &str, options: &[(String, String)], selected: &str, problems: &Problems) -> Markup {
    select_in("f", name, label, options, selected, problems)
}

/// A select in a search or filter form (ids `q-<name>`).
pub fn filter_select(name: &str, label: &str, options: &[(String, String)], selected: &str) -> Markup {
    select_in("q", name, label, options, selected, &Problems::default())
}

fn select_in(
    prefix: &str,
    name: &str,
    label: &str,
    options: &[(String, String)],
    selected: &str,
    problems: &Problems,
) -> Markup {
    let id = format!("{prefix}-{name}");
    let err = problems.on(name);
    let err_id = format!("{id}-error");
    html! {
        div.field.invalid[err.is_some()] {
            label for=(id) { (label) }
            select #(id) name=(name) aria-invalid=[err.map(|_| "true")] aria-describedby=[err.map(|_| err_id.as_str())] {
                @for (value, text) in options {
                    option value=(value) selected[value == selected] { (text) }
                }
            }
            @if let Some(e) = err { p.error #(err_id) { (e.message) } }
        }
    }
}

/// A labelled checkbox.
pub fn checkbox(name: &str, label: &str, checked: bool) -> Markup {
    let id = format!("f-{name}");
    html! {
        div.field.check {
            input #(id) type="checkbox" name=(name) value="true" checked[checked];
            label for=(id) { (label) }
        }
    }
}
