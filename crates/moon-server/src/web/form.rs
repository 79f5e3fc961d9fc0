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
        let fields = match field {
            Some(f) => vec![FieldError::new(f, e.code(), e.detail())],
            None if !e.field_errors().is_empty() => e.field_errors().to_vec(),
            None => return Problems { fields: Vec::new(), general: Some(e.detail().to_owned()) },
        };
        let fields = fields
            .into_iter()
            .map(|mut f| {
                f.message = for_people(&f.field, &f.message);
                f
            })
            .collect();
        Problems { fields, general: None }
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
        self.summary_in("f")
    }

    /// [`Self::summary`] of a form whose inputs were drawn with [`input_in`] and `prefix`.
    pub fn summary_in(&self, prefix: &str) -> Markup {
        html! {
            @if self.any() {
                div.alert role="alert" {
                    @if let Some(g) = &self.general { p { (g) } }
                    @if !self.fields.is_empty() {
                        p { "Please correct the highlighted fields:" }
                        ul { @for e in &self.fields { li { a href=(format!("#{prefix}-{}", e.field)) { (e.message) } } } }
                    }
                }
            }
        }
    }
}

/// A search value typed into a filter: any text but control characters (which no record holds,
/// and some databases refuse outright) and at most 200 characters.
pub fn search_text(field: &str, raw: &Option<String>) -> Result<Option<String>, FieldError> {
    let Some(value) = given(raw) else { return Ok(None) };
    if value.chars().any(char::is_control) || value.chars().count() > 200 {
        return Err(FieldError::new(
            field,
            "invalid_search",
            format!("{} must be plain text of at most 200 characters", field_label(field)),
        ));
    }
    Ok(Some(value))
}

/// What people call a field the API names by its key: `last_name` is "Last name", and a
/// picker's `product_id` is "Product".
pub fn field_label(field: &str) -> String {
    let words = field.strip_suffix("_id").unwrap_or(field).replace('_', " ");
    let mut chars = words.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// An API message worded for people: the field key it opens with (`last_name is required`)
/// becomes the field's name (`Last name is required`). Other messages pass unchanged.
pub fn for_people(field: &str, message: &str) -> String {
    match message.strip_prefix(field) {
        Some(rest) if rest.starts_with(' ') => format!("{}{rest}", field_label(field)),
        _ => message.to_owned(),
    }
}

/// An amount as a person may type it, for [`moon_domain::Money::parse`]: thousands separators
/// in their places (`25,000` or `1,250,000.50`) are dropped; anything else is left for the
/// parser to judge, so `2,50` is still refused rather than read as 250.
pub fn ungroup_amount(raw: &str) -> String {
    let t = raw.trim();
    let (whole, fraction) = t.split_once('.').map_or((t, None), |(w, f)| (w, Some(f)));
    let mut groups = whole.split(',');
    let first = groups.next().unwrap_or_default();
    let grouped = whole.contains(',')
        && (1..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_digit())
        && groups.all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()));
    if !grouped {
        return t.to_owned();
    }
    let digits: String = whole.chars().filter(|c| *c != ',').collect();
    fraction.map_or(digits.clone(), |f| format!("{digits}.{f}"))
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

/// A labelled input with ids `<prefix>-<name>`: for a second form on a page whose fields share
/// names with the first (an agent's edit form and its move form both have a team), so every id
/// stays unique and every label names its own input.
pub fn input_in(prefix: &str, i: Input<'_>, problems: &Problems) -> Markup {
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

/// A picker that searches: a text input suggesting from the datalist `list` (see [`datalist`]),
/// so a long list (every agent) is narrowed by typing a code or a name instead of scrolled,
/// and nothing is capped. `prefix` is `f` in an edit form, `q` in a filter form.
pub fn search_input(prefix: &str, name: &str, label: &str, value: &str, list: &str, problems: &Problems) -> Markup {
    let id = format!("{prefix}-{name}");
    let err = problems.on(name);
    let err_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described = match err {
        Some(_) => format!("{hint_id} {err_id}"),
        None => hint_id.clone(),
    };
    html! {
        div.field.invalid[err.is_some()] {
            label for=(id) { (label) }
            input #(id) type="text" name=(name) value=(value) list=(list) autocomplete="off"
                aria-invalid=[err.map(|_| "true")] aria-describedby=(described);
            p.hint #(hint_id) { "Type a code or a name" }
            @if let Some(e) = err { p.error #(err_id) { (e.message) } }
        }
    }
}

/// The suggestions of a [`search_input`]: (value, label) pairs.
pub fn datalist(id: &str, options: &[(String, String)]) -> Markup {
    html! {
        datalist #(id) { @for (value, text) in options { option value=(value) { (text) } } }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_keys_become_words_people_use() {
        assert_eq!(for_people("last_name", "last_name is required"), "Last name is required");
        assert_eq!(for_people("product_id", "product_id is required"), "Product is required");
        assert_eq!(for_people("amount", "choose a product"), "choose a product");
        assert_eq!(for_people("team", "teams must be set"), "teams must be set", "only the whole key");
    }

    #[test]
    fn amounts_with_thousands_separators_are_read_as_people_write_them() {
        assert_eq!(ungroup_amount("25,000"), "25000");
        assert_eq!(ungroup_amount(" 1,250,000.50 "), "1250000.50");
        assert_eq!(ungroup_amount("1234.50"), "1234.50");
        for left_alone in ["2,50", "25,00,000", ",250", "1,2345", "abc,def"] {
            assert_eq!(ungroup_amount(left_alone), left_alone, "{left_alone}");
        }
    }
}
