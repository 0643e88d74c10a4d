//! `autopilot-tui apply PLAN.csv`: a CSV of changes read, checked and planned against the
//! records as they are now, for the job runner to send. Pure but for reading the records;
//! the command line around it (confirmation, progress, exit status) is in `main`.
//!
//! The file: a header row, then one record a row. The first column is the key, `serialNumber`
//! or `id`; the others name the properties to set, as Graph spells them (any case): the
//! resource's bulk fields and per-record fields ([`Resource::apply_fields`]). An empty cell
//! leaves the property alone, the literal `null` clears it; any other value is checked as the
//! form checks it ([`validate::parse`]). A row whose key matches no record, matches two (a
//! serial two records share), is given twice in the file, or holds a value the form would
//! refuse is that row's failure: reported, never guessed. A row at its target needs no write,
//! so applying the same file twice sends nothing the second time.

use crate::graph::client::{GraphClient, ListQuery};
use crate::graph::error::GraphError;
use crate::graph::resource::{Field, Record, Resource, Version};
use crate::graph::validate;
use crate::jobs::outcome::ItemResult;
use crate::jobs::plan::{Plan, PlanItem, Target, Unplanned};
use crate::jobs::results::ResultRow;
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What clears a property.
pub const NULL: &str = "null";

/// Why the file cannot be applied at all (a row's own problem is that row's failure instead).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Not a CSV, or a header that cannot be used.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong (with the line, when it is one line's).
        message: String,
    },
    /// Reading the records to plan against failed.
    #[error("reading the {} to plan against failed: {source}", resource)]
    Records {
        /// The resource's title.
        resource: &'static str,
        /// What failed.
        source: GraphError,
    },
}

/// What the first column names the record by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `serialNumber` (matched whatever its case, as a serial is).
    Serial,
    /// `id`.
    Id,
}

/// What one cell asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Leave the property alone (an empty cell).
    Leave,
    /// Set it to this value (`null`: clear it).
    Set(Value),
    /// A value the form would refuse, in words.
    Refused(String),
}

/// One row of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Its line in the file (1 is the header).
    pub line: usize,
    /// The key as given (trimmed).
    pub key: String,
    /// One cell per property column; `Err`: the row itself is wrong (cell count).
    pub cells: Result<Vec<Cell>, String>,
}

/// A file of changes, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeFile {
    /// What kind of record it changes.
    pub resource: &'static Resource,
    /// What the first column is.
    pub key: Key,
    /// The property columns, in order.
    pub columns: Vec<&'static Field>,
    /// The rows, in order.
    pub rows: Vec<Row>,
}

impl ChangeFile {
    /// Reads `path` for `resource` (`beta`: the base URL is Graph's beta, where beta-only
    /// fields may be set).
    pub fn read(path: &Path, resource: &'static Resource, beta: bool) -> Result<ChangeFile, ApplyError> {
        let bytes =
            std::fs::read(path).map_err(|source| ApplyError::Read { path: path.to_path_buf(), source })?;
        ChangeFile::parse(&bytes, resource, beta)
            .map_err(|message| ApplyError::Format { path: path.to_path_buf(), message })
    }

    /// Reads CSV text (a UTF-8 byte-order mark is skipped, as Excel writes one).
    pub fn parse(bytes: &[u8], resource: &'static Resource, beta: bool) -> Result<ChangeFile, String> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
        let mut records = reader.records();
        let header = match records.next() {
            Some(Ok(header)) => header,
            Some(Err(e)) => return Err(csv_problem(&e)),
            None => return Err("empty: the first line names the key column and the properties to set".into()),
        };
        let names: Vec<&str> = header.iter().map(str::trim).collect();
        let key = match names.first().copied() {
            Some(name) if name.eq_ignore_ascii_case("serialNumber") => Key::Serial,
            Some(name) if name.eq_ignore_ascii_case("id") => Key::Id,
            other => {
                return Err(format!(
                    "the first column is {}: it must be the key, serialNumber or id",
                    other.map_or("missing".to_string(), |n| format!("'{n}'"))
                ));
            }
        };
        let allowed: Vec<&'static Field> =
            resource.apply_fields().filter(|f| beta || f.version != Version::BetaOnly).collect();
        let mut columns: Vec<&'static Field> = Vec::new();
        for name in &names[1..] {
            let Some(field) = allowed.iter().copied().find(|f| f.path.eq_ignore_ascii_case(name)) else {
                let why = match resource.fields.iter().find(|f| f.path.eq_ignore_ascii_case(name)) {
                    Some(f)
                        if f.version == Version::BetaOnly
                            && !beta
                            && resource.apply_fields().any(|a| a == f) =>
                    {
                        format!("'{name}' is only in Graph's beta (give a /beta base URL)")
                    }
                    Some(_) => format!("'{name}' is not set by apply"),
                    None => format!("'{name}' is no property of {}", resource.title),
                };
                let offered: Vec<&str> = allowed.iter().map(|f| f.path).collect();
                return Err(format!("column {why}; apply sets {}", offered.join(", ")));
            };
            if columns.contains(&field) {
                return Err(format!("column '{}' is given twice", field.path));
            }
            columns.push(field);
        }
        if columns.is_empty() {
            return Err("no property columns: name what to set after the key column".into());
        }
        let mut rows = Vec::new();
        for record in records {
            let record = record.map_err(|e| csv_problem(&e))?;
            // Counted from the bytes: the reader does not count blank lines.
            let line = record.position().map_or(rows.len() + 2, |p| line_at(bytes, p.byte()));
            if record.iter().all(|cell| cell.trim().is_empty()) {
                continue;
            }
            let key = record.get(0).unwrap_or_default().trim().to_string();
            let cells = if record.len() != names.len() {
                Err(format!("{} cells where the header has {}", record.len(), names.len()))
            } else {
                Ok(columns.iter().zip(record.iter().skip(1)).map(|(field, text)| cell(field, text)).collect())
            };
            rows.push(Row { line, key, cells });
        }
        Ok(ChangeFile { resource, key, columns, rows })
    }

    /// The properties to read of each record to plan against: the key and the columns.
    pub fn select(&self) -> Vec<String> {
        let mut select = vec!["id".to_string(), "serialNumber".to_string()];
        select.extend(self.columns.iter().map(|f| f.path.to_string()));
        select
    }
}

/// What a cell asks of `field`.
fn cell(field: &'static Field, text: &str) -> Cell {
    let text = text.trim();
    if text.is_empty() {
        return Cell::Leave;
    }
    if text == NULL {
        return if field.nullable {
            Cell::Set(Value::Null)
        } else {
            Cell::Refused(format!("{} cannot be cleared", field.path))
        };
    }
    match validate::parse(field, text) {
        Ok(value) => Cell::Set(value),
        Err(error) => Cell::Refused(format!("{}: {error}", field.path)),
    }
}

/// The 1-based line of the record the reader says starts at `offset` (where it started
/// reading: blank lines before the record included).
fn line_at(bytes: &[u8], offset: u64) -> usize {
    let mut end = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
    while matches!(bytes.get(end), Some(b'\n' | b'\r')) {
        end += 1;
    }
    bytes[..end].iter().filter(|b| **b == b'\n').count() + 1
}

fn csv_problem(error: &csv::Error) -> String {
    match error.position() {
        Some(p) => format!("line {}: {error}", p.line()),
        None => error.to_string(),
    }
}

/// Reads every record of the file's resource, with the properties a plan needs.
pub async fn read_records(
    client: &GraphClient,
    file: &ChangeFile,
    page_size: u32,
) -> Result<Vec<Record>, ApplyError> {
    let client = client.for_resource(file.resource);
    let query = ListQuery { select: file.select(), top: Some(page_size), ..ListQuery::default() };
    let mut records = Vec::new();
    let mut pages = client.list(&query);
    while let Some(page) = pages.next().await {
        let page =
            page.result.map_err(|source| ApplyError::Records { resource: file.resource.title, source })?;
        records.extend(page.devices);
    }
    Ok(records)
}

/// Where a row of the file went in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The plan's item at this index.
    Item(usize),
    /// The plan's unplanned row at this index.
    Unplanned(usize),
}

/// A file's plan: the runner's [`Plan`], and for each row of the file (in order) its key and
/// where it went.
#[derive(Debug, Clone, PartialEq)]
pub struct FilePlan {
    /// What to send.
    pub plan: Plan,
    /// Each row: its key as given, and its place.
    pub rows: Vec<(String, Place)>,
}

impl FilePlan {
    /// Plans `file` against `records` (all of its resource, as read now).
    pub fn new(file: &ChangeFile, records: &[Record]) -> FilePlan {
        let resource = file.resource;
        // Each key to the records that hold it (serials whatever their case).
        let mut by_key: HashMap<String, Vec<&Record>> = HashMap::new();
        for record in records {
            let key = match file.key {
                Key::Id => record.get("id").and_then(Value::as_str).map(str::to_string),
                Key::Serial => {
                    record.get("serialNumber").and_then(Value::as_str).map(|s| s.trim().to_lowercase())
                }
            };
            if let Some(key) = key.filter(|k| !k.is_empty()) {
                by_key.entry(key).or_default().push(record);
            }
        }
        let normal = |key: &str| match file.key {
            Key::Id => key.to_string(),
            Key::Serial => key.to_lowercase(),
        };
        let mut lines_of: HashMap<String, Vec<usize>> = HashMap::new();
        for row in &file.rows {
            lines_of.entry(normal(&row.key)).or_default().push(row.line);
        }
        let key_name = match file.key {
            Key::Serial => "serial number",
            Key::Id => "id",
        };
        let mut plan = Plan { resource, items: Vec::new(), unplanned: Vec::new() };
        let mut rows = Vec::with_capacity(file.rows.len());
        for row in &file.rows {
            let refuse = |plan: &mut Plan, reason: String| {
                plan.unplanned.push(Unplanned { line: Some(row.line), key: row.key.clone(), reason });
                Place::Unplanned(plan.unplanned.len() - 1)
            };
            let place = match planned(file, row, &by_key, &lines_of, key_name, normal(&row.key)) {
                Ok(item) => {
                    plan.items.push(item);
                    Place::Item(plan.items.len() - 1)
                }
                Err(reason) => refuse(&mut plan, format!("line {}: {reason}", row.line)),
            };
            rows.push((row.key.clone(), place));
        }
        FilePlan { plan, rows }
    }

    /// One results row per row of the file, in its order: how each ended (`results` in plan
    /// order), or, before the run (`None`), what is to be done.
    pub fn result_rows(&self, results: Option<&[ItemResult]>) -> Vec<ResultRow> {
        self.rows
            .iter()
            .map(|(key, place)| {
                let mut row = match *place {
                    Place::Item(i) => match results.and_then(|r| r.get(i)) {
                        Some(result) => ResultRow::of(&self.plan.items[i], result),
                        None => ResultRow::planned(&self.plan.items[i]),
                    },
                    Place::Unplanned(i) => ResultRow::unplanned(&self.plan.unplanned[i]),
                };
                row.key = key.clone();
                row
            })
            .collect()
    }
}

/// The item of one row, or why there is none.
fn planned(
    file: &ChangeFile,
    row: &Row,
    by_key: &HashMap<String, Vec<&Record>>,
    lines_of: &HashMap<String, Vec<usize>>,
    key_name: &str,
    key: String,
) -> Result<PlanItem, String> {
    if row.key.is_empty() {
        return Err(format!("no {key_name} in the first column"));
    }
    if let Some(lines) = lines_of.get(&key).filter(|lines| lines.len() > 1) {
        let others: Vec<String> = lines.iter().filter(|l| **l != row.line).map(ToString::to_string).collect();
        return Err(format!(
            "{key_name} {} is also on line {}: which row wins is not guessed",
            row.key,
            others.join(", ")
        ));
    }
    let cells = row.cells.as_ref().map_err(Clone::clone)?;
    let mut targets = Vec::new();
    let mut refused = Vec::new();
    for (field, cell) in file.columns.iter().zip(cells) {
        match cell {
            Cell::Leave => {}
            Cell::Set(value) => targets.push(Target { field, value: value.clone() }),
            Cell::Refused(why) => refused.push(why.clone()),
        }
    }
    if !refused.is_empty() {
        return Err(refused.join("; "));
    }
    let record = match by_key.get(&key).map(Vec::as_slice) {
        None | Some([]) => {
            return Err(format!("{key_name} {} matches none of the {}", row.key, file.resource.title));
        }
        Some([record]) => *record,
        Some(several) => {
            let ids: Vec<&str> = several.iter().filter_map(|r| r.get("id").and_then(Value::as_str)).collect();
            return Err(format!(
                "{key_name} {} is held by {} {} (ids {}): give the id instead",
                row.key,
                several.len(),
                file.resource.title,
                ids.join(", ")
            ));
        }
    };
    let id = record.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    let label = record
        .get("serialNumber")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(&id)
        .to_string();
    Ok(PlanItem::new(id, label, record, &targets))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::graph::imported::IMPORTED;
    use crate::graph::registered::REGISTERED;
    use crate::jobs::plan::Step;
    use serde_json::json;

    fn record(id: &str, serial: &str, tag: Option<&str>) -> Record {
        json!({"id": id, "serialNumber": serial, "groupTag": tag, "displayName": "PC"})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn rows_are_planned_against_the_records_and_bad_rows_fail_on_their_own() {
        let text = "\u{feff}serialNumber,groupTag,displayName\n\
                    SN-1,Lab,\n\
                    sn-2,Lab,\n\
                    SN-3,null,Desk-3\n\
                    SN-9,Lab,\n\
                    SN-4,Lab,\n\
                    SN-5,Lab,\n\
                    SN-5,Kiosk,\n\
                    SN-1b,Lab\n\
                    SN-6,,this-name-is-far-too-long\n\
                    \n\
                    ,Lab,\n";
        let file = ChangeFile::parse(text.as_bytes(), &REGISTERED, false).unwrap();
        assert_eq!(file.key, Key::Serial);
        assert_eq!(file.columns.iter().map(|f| f.path).collect::<Vec<_>>(), ["groupTag", "displayName"]);
        let records = [
            record("a", "SN-1", Some("Sales")),
            record("b", "SN-2", Some("Lab")),
            record("c", "SN-3", Some("Sales")),
            record("d1", "SN-4", None),
            record("d2", "sn-4", None),
            record("e", "SN-5", None),
            record("f", "SN-6", None),
        ];
        let planned = FilePlan::new(&file, &records);
        let rows = planned.result_rows(None);
        let outcome: Vec<(&str, &str)> = rows.iter().map(|r| (r.key.as_str(), r.outcome.as_str())).collect();
        assert_eq!(
            outcome,
            [
                ("SN-1", "to write"),
                ("sn-2", "skipped"),
                ("SN-3", "to write"),
                ("SN-9", "failed"),
                ("SN-4", "failed"),
                ("SN-5", "failed"),
                ("SN-5", "failed"),
                ("SN-1b", "failed"),
                ("SN-6", "failed"),
                ("", "failed"),
            ]
        );
        let item = &planned.plan.items[2];
        assert_eq!(item.body().unwrap().to_json(), json!({"groupTag": null, "displayName": "Desk-3"}));
        assert_eq!(planned.plan.items[1].step, Step::AlreadyThere);
        let reasons: Vec<&str> = planned.plan.unplanned.iter().map(|u| u.reason.as_str()).collect();
        assert_eq!(reasons[0], "line 5: serial number SN-9 matches none of the registered devices");
        assert_eq!(
            reasons[1],
            "line 6: serial number SN-4 is held by 2 registered devices (ids d1, d2): give the id instead"
        );
        assert_eq!(reasons[2], "line 7: serial number SN-5 is also on line 8: which row wins is not guessed");
        assert!(reasons[4].contains("2 cells where the header has 3"), "{}", reasons[4]);
        assert!(reasons[5].starts_with("line 10: displayName: "), "{}", reasons[5]);
        assert_eq!(reasons[6], "line 12: no serial number in the first column");
    }

    #[test]
    fn the_header_must_name_a_key_and_properties_apply_sets() {
        let refused = |text: &str, resource: &'static Resource| {
            ChangeFile::parse(text.as_bytes(), resource, false).unwrap_err()
        };
        assert!(refused("", &IMPORTED).starts_with("empty"));
        assert!(refused("groupTag,serialNumber\n", &IMPORTED).contains("must be the key"));
        assert!(refused("id\n", &IMPORTED).starts_with("no property columns"));
        let e = refused("id,groupTag,GROUPTAG\n", &IMPORTED);
        assert_eq!(e, "column 'groupTag' is given twice");
        let e = refused("id,colour\n", &IMPORTED);
        assert_eq!(
            e,
            "column 'colour' is no property of imported identities; apply sets assignedUserPrincipalName, groupTag"
        );
        let e = refused("id,productKey\n", &IMPORTED);
        assert!(e.starts_with("column 'productKey' is not set by apply"), "{e}");
        let e = refused("id,deviceAccountPassword\n", &REGISTERED);
        assert!(e.starts_with("column 'deviceAccountPassword' is not set by apply"), "{e}");
        let file = ChangeFile::parse(
            b"ID,GroupTag,userPrincipalName\nx,,null\ny,Lab,not-a-upn\n",
            &REGISTERED,
            false,
        )
        .unwrap();
        assert_eq!(file.key, Key::Id);
        assert_eq!(file.rows[0].cells, Ok(vec![Cell::Leave, Cell::Set(Value::Null)]));
        let Ok(cells) = &file.rows[1].cells else { panic!() };
        assert!(
            matches!(&cells[1], Cell::Refused(why) if why.starts_with("userPrincipalName: ")),
            "{cells:?}"
        );
        assert_eq!(file.select(), ["id", "serialNumber", "groupTag", "userPrincipalName"]);
    }
}
