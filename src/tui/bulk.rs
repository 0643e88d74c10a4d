//! The bulk edit of marked rows as data: for each field that makes sense on many records, leave
//! it, set it to one value, or clear it; the targets it makes and the plan of what they change,
//! checked like the single form. The editor of the focused line is view state beside it.

use crate::graph::resource::{Cell, Field, Record, Resource};
use crate::graph::validate::{self, FieldError};
use crate::jobs::plan::{Plan, Target};
use crate::tui::table::TableState;
use serde_json::Value;
use tui_textarea::TextArea;

/// What a bulk edit does to one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Leave every record's value as it is.
    Leave,
    /// Set it to the typed value.
    Set,
    /// Clear it (`null`).
    Clear,
}

impl Choice {
    /// The next choice (^T cycles); clearing only where the field takes `null`.
    pub fn next(self, field: &Field) -> Choice {
        match self {
            Choice::Leave => Choice::Set,
            Choice::Set if field.nullable => Choice::Clear,
            Choice::Set | Choice::Clear => Choice::Leave,
        }
    }

    /// In a word, for the form.
    pub fn word(self) -> &'static str {
        match self {
            Choice::Leave => "leave",
            Choice::Set => "set to",
            Choice::Clear => "clear",
        }
    }
}

/// One field of the bulk form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkField {
    /// The field.
    pub field: &'static Field,
    /// What happens to it.
    pub choice: Choice,
    /// The value typed for `Set`.
    pub text: String,
}

impl BulkField {
    /// The target it makes, or why it cannot (`None`: left alone).
    pub fn target(&self) -> Option<Result<Target, FieldError>> {
        let value = match self.choice {
            Choice::Leave => return None,
            Choice::Clear => Ok(Value::Null),
            Choice::Set if self.text.trim().is_empty() => Err(FieldError::Required),
            Choice::Set => validate::parse(self.field, self.text.trim()),
        };
        Some(value.map(|value| Target { field: self.field, value }))
    }
}

/// The bulk form: the marked records and what to do to them.
#[derive(Debug, Clone)]
pub struct BulkForm {
    /// What kind of record.
    pub resource: &'static Resource,
    /// The marked records' rows, in table order.
    pub rows: Vec<usize>,
    /// The fields, in form order.
    pub fields: Vec<BulkField>,
    /// The focused field.
    pub focus: usize,
    /// The focused field's editor (view state).
    pub editor: TextArea<'static>,
    /// Why the preview could not be made.
    pub problem: Option<String>,
}

impl BulkForm {
    /// A form for `rows` of `resource`, every field left alone.
    pub fn new(resource: &'static Resource, rows: Vec<usize>) -> BulkForm {
        let fields = resource
            .bulk_fields()
            .map(|field| BulkField { field, choice: Choice::Leave, text: String::new() })
            .collect();
        BulkForm {
            resource,
            rows,
            fields,
            focus: 0,
            editor: crate::tui::line_edit::line_editor("", ""),
            problem: None,
        }
    }

    /// The targets, or the fields whose value is refused.
    pub fn targets(&self) -> Result<Vec<Target>, Vec<(&'static Field, FieldError)>> {
        let mut targets = Vec::new();
        let mut wrong = Vec::new();
        for bf in &self.fields {
            match bf.target() {
                Some(Ok(t)) => targets.push(t),
                Some(Err(e)) => wrong.push((bf.field, e)),
                None => {}
            }
        }
        if wrong.is_empty() { Ok(targets) } else { Err(wrong) }
    }

    /// The plan of these targets over the marked rows, from what the table shows of them (a
    /// field the table has no column for is not known: it is written).
    pub fn plan(&self, table: &TableState, targets: &[Target]) -> Plan {
        let records =
            self.rows.iter().map(|&row| (table.rows.id(row), table.label(row), known(table, row, targets)));
        Plan::uniform(self.resource, targets, records)
    }
}

/// What the table knows of a row's target fields: an empty cell is `null`.
fn known(table: &TableState, row: usize, targets: &[Target]) -> Record {
    let mut record = Record::new();
    for target in targets {
        let Some(col) = table.columns().iter().position(|c| c.cell == Cell::Field(target.field.path)) else {
            continue;
        };
        let text = table.rows.cell(row, col);
        let value = if text.is_empty() { Value::Null } else { Value::String(text.into_owned()) };
        target.field.set(&mut record, value);
    }
    record
}
