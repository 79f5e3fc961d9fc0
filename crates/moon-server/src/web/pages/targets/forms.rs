//! The targets page's admin forms, each drawn with what was typed and its errors beside its
//! fields: set one target, copy a period forward, import a CSV file (with the report of the
//! last import), lock a finished period.

use maud::{Markup, html};
use moon_domain::Period;

use super::periods::{CopyForm, ImportForm, LockForm};
use super::{PATH, SetForm, v};
use crate::file_import::ImportReport;
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Input, Problems};
use crate::web::layout::csrf_field;

/// Every form of the page as submitted, with its problems; the one just posted is filled.
#[derive(Debug, Default)]
pub struct Forms {
    /// The period as typed into the picker, when it could not be read.
    pub shown: Option<String>,
    /// The period picker's problems.
    pub shown_problems: Problems,
    /// Set one target.
    pub set: SetForm,
    /// Its problems.
    pub set_problems: Problems,
    /// Copy forward.
    pub copy: CopyForm,
    /// Its problems.
    pub copy_problems: Problems,
    /// Import from CSV.
    pub import: ImportForm,
    /// Its problems (a file that cannot be read at all).
    pub import_problems: Problems,
    /// The report of the import just posted.
    pub report: Option<ImportReport>,
    /// A target's deletion that was refused, shown above the table.
    pub refused: Option<super::delete::Refused>,
    /// Lock a period.
    pub lock: LockForm,
    /// Its problems.
    pub lock_problems: Problems,
}

const SCOPES: [&str; 5] = ["agent", "team", "branch", "region", "company"];

/// Sets one target: scope, who, product or product line (or all), period, amount, count,
/// correction reason.
pub fn set_form(
    state: &WebState,
    ctx: &Ctx,
    period: Period,
    products: &[(i64, String)],
    lines: &[String],
    f: &Forms,
) -> Markup {
    let p = &f.set_problems;
    let s = &f.set;
    let scopes: Vec<(String, String)> = SCOPES.iter().map(|k| ((*k).to_owned(), (*k).to_owned())).collect();
    let mut choices = vec![(String::new(), String::from("All products"))];
    choices.extend(products.iter().map(|(id, name)| (id.to_string(), name.clone())));
    let mut line_choices = vec![(String::new(), String::from("No line (a product, or all products)"))];
    line_choices.extend(lines.iter().map(|l| (l.clone(), l.clone())));
    let label = state.calendar.fiscal.label(period);
    let period_value = if s.period.is_some() { v(&s.period) } else { &label };
    html! {
        section.panel aria-labelledby="set-target-h" {
            h2 #set-target-h { "Set a target" }
            p.hint { "Setting a target that exists (same scope, product or line, and period) replaces its amount. A target is for one product, one product line (every product of that type), or all products: choose a product or a line, not both." }
            form method="post" action=(PATH) novalidate {
                (csrf_field(ctx))
                (p.summary())
                div.form-grid {
                    (form::select("scope_kind", "Scope", &scopes, s.scope_kind.as_deref().unwrap_or("agent"), p))
                    (form::search_input("f", "scope_key", "Agent, team, branch or region code (empty for the company)", v(&s.scope_key), "scope-choices", p))
                    (form::select("product", "Product", &choices, v(&s.product), p))
                    (form::select("product_line", "Product line", &line_choices, v(&s.product_line), p))
                    (form::input(Input { name: "period", label: "Period", value: period_value, kind: "text", required: true }, p))
                    (form::input(Input { name: "amount", label: &format!("Amount ({})", state.currency), value: v(&s.amount), kind: "text", required: true }, p))
                    (form::input(Input { name: "policy_count", label: "Policies (optional)", value: v(&s.policy_count), kind: "text", required: false }, p))
                    (form::input(Input { name: "correction_reason", label: "Correction reason (only for a locked period)", value: v(&s.correction_reason), kind: "text", required: false }, p))
                }
                button type="submit" { "Set target" }
            }
        }
    }
}

/// Copies the shown period's targets to the next (or another) period, scaled.
pub fn copy_form(state: &WebState, ctx: &Ctx, period: Period, f: &Forms) -> Markup {
    let p = &f.copy_problems;
    let c = &f.copy;
    let fiscal = state.calendar.fiscal;
    let from = if c.from.is_some() { v(&c.from).to_owned() } else { fiscal.label(period) };
    let to = if c.to.is_some() { v(&c.to).to_owned() } else { fiscal.label(period.next()) };
    let percent = if c.scale_percent.is_some() { v(&c.scale_percent) } else { "100" };
    html! {
        section.panel aria-labelledby="copy-h" {
            h2 #copy-h { "Copy targets forward" }
            p.hint { "Every target of one period is copied to another, scaled; targets the new period has already are kept." }
            form method="post" action="/targets/copy" novalidate {
                (csrf_field(ctx))
                (p.summary())
                div.form-grid {
                    (form::input(Input { name: "from", label: "From period", value: &from, kind: "text", required: true }, p))
                    (form::input(Input { name: "to", label: "To period", value: &to, kind: "text", required: true }, p))
                    (form::input(Input { name: "scale_percent", label: "Scale (percent of the old amounts)", value: percent, kind: "text", required: true }, p))
                }
                button type="submit" { "Copy targets" }
            }
        }
    }
}

/// Imports targets from CSV: a file (read into the text box by the script) or pasted text, all
/// or nothing or the good rows only; then the report, line by line.
pub fn import_form(ctx: &Ctx, f: &Forms) -> Markup {
    let p = &f.import_problems;
    let rejected = f.report.as_ref().is_some_and(|r| !r.errors.is_empty()) || p.any();
    let partial = f.import.mode.as_deref() == Some("partial");
    html! {
        section.panel aria-labelledby="import-h" {
            h2 #import-h { "Import targets from CSV" }
            p.hint #csv-hint {
                "Columns: " code { "scope_kind,scope_key,product,product_line,period,amount,policy_count" }
                " (scope_kind, period and amount required; product by id or name)."
            }
            form method="post" action="/targets/import" novalidate {
                (csrf_field(ctx))
                (p.summary())
                div.field {
                    label for="f-csv-file" { "CSV file" }
                    input #f-csv-file type="file" accept=".csv,text/csv" data-fill="f-csv";
                }
                div.field.invalid[rejected] {
                    label for="f-csv" { "CSV text (the file's contents, or paste them)" }
                    textarea #f-csv name="csv" rows="6" aria-describedby=(if rejected { "csv-hint import-report-h" } else { "csv-hint" })
                        aria-invalid=[rejected.then_some("true")] { (v(&f.import.csv)) }
                }
                fieldset {
                    legend { "If some rows are wrong" }
                    div.field.check {
                        input #f-mode-all type="radio" name="mode" value="all" checked[!partial];
                        label for="f-mode-all" { "Import nothing (all or nothing)" }
                    }
                    div.field.check {
                        input #f-mode-partial type="radio" name="mode" value="partial" checked[partial];
                        label for="f-mode-partial" { "Import the good rows" }
                    }
                }
                button type="submit" { "Import" }
            }
            @if let Some(r) = &f.report { (report(r)) }
        }
    }
}

/// The report of an import: what was written, and every rejected line with field and reason.
fn report(r: &ImportReport) -> Markup {
    html! {
        div #import-report role="status" {
            h3 #import-report-h {
                @if r.applied { "Imported: " } @else { "Nothing imported: " }
                (r.rows) " rows read, " (r.created) " created, " (r.updated) " updated, "
                (r.skipped) " skipped, " (r.errors.len()) " rejected"
            }
            @if !r.errors.is_empty() {
                div.table-wrap {
                    table #import-errors {
                        caption { "Rejected rows" }
                        thead { tr { th.num scope="col" { "Line" } th scope="col" { "Field" } th scope="col" { "Reason" } } }
                        tbody {
                            @for e in &r.errors {
                                tr { td.num { (e.line) } td { (e.field) } td { (form::for_people(&e.field, &e.message)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Locks a finished period (by default the one before the period shown), after asking.
pub fn lock_form(state: &WebState, ctx: &Ctx, period: Period, f: &Forms) -> Markup {
    let p = &f.lock_problems;
    let fiscal = state.calendar.fiscal;
    let default = fiscal.label(period.previous());
    let value = if f.lock.period.is_some() { v(&f.lock.period).to_owned() } else { default };
    html! {
        section.panel aria-labelledby="lock-h" {
            h2 #lock-h { "Lock a finished period" }
            p.hint { "After locking, a period's targets (and those of the months or quarters inside it) change only as corrections with a reason, recorded in the audit log." }
            form method="post" action="/targets/lock" novalidate
                data-confirm="Lock this period? Its targets will then change only as corrections with a reason." {
                (csrf_field(ctx))
                (p.summary())
                div.form-grid {
                    (form::input(Input { name: "lock_period", label: "Period to lock", value: &value, kind: "text", required: true }, p))
                }
                button.danger type="submit" { "Lock period" }
            }
        }
    }
}
