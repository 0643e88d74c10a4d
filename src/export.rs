//! `autopilot-tui list`: the records of one resource (imported identities or registered
//! devices) streamed page by page to a writer as JSON, CSV (columns from the resource's field
//! table), or the Autopilot hardware-hash CSV that the Intune portal imports (spec section 5;
//! only for a resource that has hashes). A secret field (`Kind::Secret`) is never written.
//!
//! Nothing is written until the first page has arrived, so a listing that fails at once
//! writes nothing; one that fails later ends a JSON array with `]` (a well-formed, clearly
//! reported, incomplete document) and keeps the CSV rows written. Devices that cannot be
//! written are reported one by one and counted in the [`ExportSummary`]. Output for a
//! terminal has every control, bidi and invisible character escaped; output for a pipe or a
//! file keeps the data exact, and a CSV row whose values hold a terminal control character is
//! refused (left out and reported) rather than written raw.

use crate::graph::client::{GraphClient, ListQuery, Outcome, Page, RawDevice};
use crate::graph::csv::CsvColumn;
use crate::graph::error::GraphError;
use crate::graph::resource::{Kind, Record, Resource, Search, SearchOp, is_beta};
use crate::terminal_text::{
    escape_for_terminal_keeping_lines, escape_json_for_terminal, is_terminal_control, visible,
};
use futures_util::StreamExt;
use std::io::Write;

/// Output formats of `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON array of device objects, as Graph sends them.
    Json,
    /// RFC 4180 CSV of the selected properties (`state/...` columns for the state).
    Csv,
    /// `Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User`.
    AutopilotCsv,
}

/// Where the output goes, which decides how strange characters are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// A person reads it: controls, bidi and invisible characters are escaped.
    Terminal,
    /// A pipe or a file: the data stays exact.
    Exact,
}

/// What one `list` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRequest {
    /// Output format.
    pub format: ExportFormat,
    /// `--select`: properties, or `state/...` sub-properties; empty means all.
    pub select: Vec<String>,
    /// `$filter`.
    pub filter: Option<String>,
    /// `$top` of each page.
    pub page_size: u32,
    /// Stop after this many devices.
    pub limit: Option<u64>,
    /// Ask for `@odata.count` (for a progress line).
    pub count: bool,
    /// Where the output goes.
    pub destination: Destination,
}

impl ExportRequest {
    /// Refuses, before anything is sent, what cannot be written for `resource`: the
    /// hardware-hash CSV of a resource without hashes, and a secret field in `--select`.
    pub fn check(&self, resource: &Resource) -> Result<(), ExportError> {
        let has_hashes = resource.field(CsvColumn::HardwareHash.property()).is_some();
        if self.format == ExportFormat::AutopilotCsv && !has_hashes {
            return Err(ExportError::NotWritable(format!(
                "{} have no hardware hash in Graph, so they cannot be written as the Autopilot \
                 hardware-hash CSV. For the hashes of devices still in the import queue use \
                 `--resource imported --format autopilot-csv`; for a registered device, read the hash on \
                 the device (Get-WindowsAutopilotInfo). To list {} use --format csv or json.",
                capitalised(resource.title),
                resource.title
            )));
        }
        if let Some(name) = self.select.iter().map(|s| s.trim()).find(|s| is_secret(resource, s)) {
            let label =
                resource.fields.iter().find(|f| f.path.eq_ignore_ascii_case(name)).map_or("", |f| f.label);
            return Err(ExportError::NotWritable(format!(
                "{name} ({label}) is a secret: it is never written; leave it out of --select."
            )));
        }
        Ok(())
    }
}

/// `registered devices` -> `Registered devices`.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Whether a property name is one of the resource's secret fields (in any case: Graph's names
/// are case-insensitive in requests).
fn is_secret(resource: &Resource, name: &str) -> bool {
    resource.fields.iter().any(|f| f.kind == Kind::Secret && f.path.eq_ignore_ascii_case(name))
}

/// After Graph refused a `$filter`: the filters the resource is known to take (its `:`
/// searches), e.g. `contains(serialNumber,'TEXT')` for registered devices.
fn filter_hint(resource: &Resource, filter: Option<&str>, error: &GraphError) -> Option<String> {
    let refused = matches!(error, GraphError::Service(e) if e.status == 400);
    if filter.is_none() || !refused || resource.searches.is_empty() {
        return None;
    }
    let form = |s: &Search| match s.op {
        SearchOp::Contains => format!("contains({},'TEXT')", s.path),
        SearchOp::EqualsValue(_) => format!("{} eq 'VALUE'", s.path),
    };
    let forms: Vec<String> = resource.searches.iter().map(form).collect();
    Some(format!("the --filter forms known to work on {}: {}", resource.title, forms.join(", ")))
}

/// Told while a listing is written.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportEvent {
    /// Devices written so far, and `@odata.count` when known.
    Progress {
        /// Devices written.
        written: u64,
        /// `@odata.count`.
        total: Option<u64>,
    },
    /// A device left out or altered, in words, with its id and serial.
    Warning(String),
}

/// How a listing went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportSummary {
    /// Devices written.
    pub written: u64,
    /// Devices left out (unreadable, or not writable in the format).
    pub skipped: u64,
    /// Devices written with U+FFFD where the server sent bytes that are not UTF-8.
    pub altered: u64,
}

impl ExportSummary {
    /// True when every device was written exactly.
    pub fn is_whole(&self) -> bool {
        self.skipped == 0 && self.altered == 0
    }
}

/// Why `list` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Refused before anything was sent: the format or a `--select`ed property cannot be
    /// written for this resource; the message says what to do instead.
    #[error("{0}")]
    NotWritable(String),
    /// Graph answered with an error or could not be reached, or a page was unreadable.
    #[error("the listing stopped at page {page}: {source}; {}{}", kept(*.written, *.format),
            hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Listing {
        /// The page that failed, counting from 1.
        page: u64,
        /// Devices written before it.
        written: u64,
        /// The output format (for what was kept).
        format: ExportFormat,
        /// What went wrong.
        source: GraphError,
        /// What may help: the filters the resource is known to take, after a refused `$filter`.
        hint: Option<String>,
    },
    /// Writing the output failed (closed pipe, full disk).
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

/// What a failed listing left on the output.
fn kept(written: u64, format: ExportFormat) -> String {
    match (written, format) {
        (0, _) => "nothing was written".to_string(),
        (n, ExportFormat::Json) => {
            format!("the output holds the {n} devices before it, as a well-formed but incomplete JSON array")
        }
        (n, _) => format!("the output holds the {n} devices before it"),
    }
}

/// `--select` as CSV columns and as Graph's `$select`, for a resource at a Graph root. A
/// complex property (`state`) stands for its fields; `state/x` is a column of its own but
/// selects `state`, since Graph selects whole properties only. Empty: every field of the
/// resource there but its secrets, and no `$select` (a secret in `select` is refused by
/// [`ExportRequest::check`]).
pub fn plan_select(resource: &Resource, beta: bool, select: &[String]) -> (Vec<String>, Vec<String>) {
    if select.is_empty() {
        let columns = resource.fields_at(beta).filter(|f| f.kind != Kind::Secret).map(|f| f.path.to_string());
        return (columns.collect(), Vec::new());
    }
    let mut columns = Vec::new();
    let mut properties: Vec<String> = Vec::new();
    for name in select.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let inside: Vec<String> = resource
            .fields_at(beta)
            .filter(|f| f.parent() == Some(name))
            .map(|f| f.path.to_string())
            .collect();
        if !inside.is_empty() {
            columns.extend(inside);
        } else {
            columns.push(name.to_string());
        }
        let property = name.split('/').next().unwrap_or(name).to_string();
        if !properties.contains(&property) {
            properties.push(property);
        }
    }
    (columns, properties)
}

/// Writes devices in one format, page by page, holding no more than a page in memory.
pub struct ExportWriter<W: Write> {
    sink: Sink<W>,
    resource: &'static Resource,
    format: ExportFormat,
    destination: Destination,
    columns: Vec<String>,
    written: u64,
    started: bool,
}

/// JSON is written as is; CSV rows go through the csv crate's writer.
enum Sink<W: Write> {
    Json(W),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> ExportWriter<W> {
    /// A writer; nothing is written until the first page (or the end). `columns` are the CSV
    /// columns (OData paths, see [`plan_select`]).
    pub fn new(
        out: W,
        resource: &'static Resource,
        format: ExportFormat,
        columns: &[String],
        destination: Destination,
    ) -> ExportWriter<W> {
        let sink = match format {
            ExportFormat::Json => Sink::Json(out),
            // The hardware-hash CSV allows no quoting; values that would need it are refused.
            ExportFormat::AutopilotCsv => Sink::Csv(Box::new(
                csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Never).from_writer(out),
            )),
            ExportFormat::Csv => Sink::Csv(Box::new(csv::Writer::from_writer(out))),
        };
        ExportWriter {
            sink,
            resource,
            format,
            destination,
            columns: columns.to_vec(),
            written: 0,
            started: false,
        }
    }

    /// Devices written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The opening (JSON `[`, the CSV header), once.
    fn start(&mut self) -> std::io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        match self.format {
            ExportFormat::Json => self.write_json_text(b"["),
            ExportFormat::Csv => {
                let header = self.columns.clone();
                self.write_row(&header)
            }
            ExportFormat::AutopilotCsv => self.write_row(&CsvColumn::ALL.map(CsvColumn::header)),
        }
    }

    fn write_row<S: AsRef<[u8]>>(&mut self, cells: &[S]) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::Csv(csv) => csv.write_record(cells).map_err(std::io::Error::other),
            Sink::Json(_) => Err(std::io::Error::other("a CSV row on a JSON output")),
        }
    }

    fn write_json_text(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::Json(out) => out.write_all(bytes),
            Sink::Csv(_) => Err(std::io::Error::other("JSON on a CSV output")),
        }
    }

    /// Writes one page of records; returns the records it could not write, in words.
    pub fn write_page(&mut self, devices: &[Record]) -> Result<Vec<String>, ExportError> {
        self.start()?;
        let mut refused = Vec::new();
        for device in devices {
            let cells = match self.format {
                ExportFormat::Json => {
                    let mut doc = device.clone();
                    doc.remove("@odata.context");
                    doc.retain(|name, _| !is_secret(self.resource, name));
                    let text = serde_json::to_string(&doc).map_err(std::io::Error::other)?;
                    self.write_json(&text)?;
                    continue;
                }
                ExportFormat::Csv => {
                    Ok(self.columns.iter().map(|c| column_text(self.resource, device, c)).collect())
                }
                ExportFormat::AutopilotCsv => autopilot_cells(device),
            };
            match cells.and_then(|cells| self.checked(cells)) {
                Ok(cells) => {
                    self.write_row(&cells)?;
                    self.written += 1;
                }
                Err(problem) => refused.push(skipped(device, &problem)),
            }
        }
        Ok(refused)
    }

    /// Cells as this destination takes them: escaped for a terminal; for a pipe or file, a
    /// value holding a terminal control is refused (it would act on whoever `cat`s the file).
    fn checked(&self, cells: Vec<String>) -> Result<Vec<String>, String> {
        match self.destination {
            Destination::Terminal => {
                Ok(cells.iter().map(|c| escape_for_terminal_keeping_lines(c).into_owned()).collect())
            }
            Destination::Exact => {
                let control = cells.iter().find_map(|cell| {
                    cell.chars().find(|c| *c != '\t' && *c != '\n' && is_terminal_control(*c))
                });
                match control {
                    Some(c) => Err(format!("a value holds the control character {}", visible(c))),
                    None => Ok(cells),
                }
            }
        }
    }

    fn write_json(&mut self, text: &str) -> std::io::Result<()> {
        self.write_json_text(if self.written == 0 { b"\n" } else { b",\n" })?;
        match self.destination {
            Destination::Terminal => self.write_json_text(escape_json_for_terminal(text).as_bytes())?,
            Destination::Exact => self.write_json_text(text.as_bytes())?,
        }
        self.written += 1;
        Ok(())
    }

    /// Writes one page of devices as the server sent them (JSON only: no decoding, no
    /// encoding again, which is most of the cost of a large export). `devices` are byte ranges
    /// of `body` (see [`GraphClient::list_raw`]).
    pub fn write_raw_page(&mut self, devices: &[RawDevice], body: &str) -> Result<Vec<String>, ExportError> {
        debug_assert_eq!(self.format, ExportFormat::Json);
        self.start()?;
        for device in devices {
            self.write_json(body.get(device.clone()).unwrap_or_default())?;
        }
        Ok(Vec::new())
    }

    /// Ends the output (JSON `]`) and flushes; returns how many devices were written.
    pub fn finish(mut self) -> Result<u64, ExportError> {
        self.start()?;
        self.close()
    }

    /// Ends an output that a failure cut short: a JSON array is closed so the document stays
    /// well-formed; nothing is written if nothing was.
    pub fn abort(self) -> Result<u64, ExportError> {
        self.close()
    }

    fn close(mut self) -> Result<u64, ExportError> {
        if self.started && self.format == ExportFormat::Json {
            self.write_json_text(if self.written == 0 { b"]\n" } else { b"\n]\n" })?;
        }
        match &mut self.sink {
            Sink::Json(out) => out.flush()?,
            Sink::Csv(csv) => csv.flush()?,
        }
        Ok(self.written)
    }
}

/// A string property of a record (nested paths such as `state/x` too).
fn text_at<'a>(record: &'a Record, path: &str) -> Option<&'a str> {
    let value = match path.split_once('/') {
        Some((parent, name)) => record.get(parent)?.get(name)?,
        None => record.get(path)?,
    };
    value.as_str()
}

/// `device ID (serial S) skipped: problem`.
fn skipped(device: &Record, problem: &str) -> String {
    let serial = text_at(device, "serialNumber").filter(|s| !s.is_empty());
    let serial = serial.map(|s| format!(" (serial {s})")).unwrap_or_default();
    format!("device {}{serial} skipped: {problem}", text_at(device, "id").unwrap_or(""))
}

/// A record's property by OData path as CSV text (`null` is empty), as the resource's field
/// table reads it; a property the table does not know is written as the server sent it.
fn column_text(resource: &Resource, record: &Record, path: &str) -> String {
    if let Some(field) = resource.field(path) {
        return field.display(record).into_owned();
    }
    let value = match path.split_once('/') {
        Some((parent, name)) => record.get(parent).and_then(|p| p.get(name)),
        None => record.get(path),
    };
    match value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The five cells of a hardware-hash CSV row (the properties of [`CsvColumn::property`]), or why
/// the record has none (the format allows no quoting, so a comma, quote or line break cannot be
/// written).
fn autopilot_cells(device: &Record) -> Result<Vec<String>, String> {
    let cells: Vec<&str> =
        CsvColumn::ALL.iter().map(|c| text_at(device, c.property()).unwrap_or("")).collect();
    if cells[CsvColumn::SerialNumber as usize].is_empty() {
        return Err("no serial number".into());
    }
    if cells[CsvColumn::HardwareHash as usize].is_empty() {
        return Err("no hardware hash (was it left out by --select?)".into());
    }
    if let Some(bad) = cells.iter().find(|c| c.contains([',', '"', '\n', '\r'])) {
        return Err(format!(
            "the value {bad:?} holds a comma, quote or line break, which the Autopilot CSV cannot carry"
        ));
    }
    Ok(cells.iter().map(|c| c.to_string()).collect())
}

/// Runs a listing into a writer page by page, stopping after `limit` devices if given.
/// `on_event` is told the running total and `@odata.count` (for a progress line) and each
/// device that could not be written as sent.
pub async fn export<W: Write>(
    client: &GraphClient,
    request: &ExportRequest,
    out: W,
    mut on_event: impl FnMut(ExportEvent),
) -> Result<ExportSummary, ExportError> {
    let resource = client.resource();
    request.check(resource)?;
    let (columns, select) = plan_select(resource, is_beta(&client.config().base_url), &request.select);
    let query = ListQuery {
        select,
        filter: request.filter.clone(),
        top: Some(request.page_size),
        order_by: None,
        count: request.count,
    };
    let writer = ExportWriter::new(out, resource, request.format, &columns, request.destination);
    // Devices pass through as sent unless the resource has a secret a server might fill in.
    let has_secrets = resource.fields.iter().any(|f| f.kind == Kind::Secret);
    match request.format {
        ExportFormat::Json if !has_secrets => {
            write_pages(client.list_raw(&query), writer, request, &mut on_event, ExportWriter::write_raw_page)
                .await
        }
        ExportFormat::Json | ExportFormat::Csv | ExportFormat::AutopilotCsv => {
            write_pages(client.list(&query), writer, request, &mut on_event, |w, devices, _| {
                w.write_page(devices)
            })
            .await
        }
    }
}

/// How one page of `T` is written, given the page's response body; returns the devices it
/// could not write, in words.
type WritePage<W, T> = fn(&mut ExportWriter<W>, &[T], &str) -> Result<Vec<String>, ExportError>;

async fn write_pages<W: Write, T>(
    mut pages: futures_util::stream::BoxStream<'static, Outcome<Page<T>>>,
    mut writer: ExportWriter<W>,
    request: &ExportRequest,
    on_event: &mut impl FnMut(ExportEvent),
    write: WritePage<W, T>,
) -> Result<ExportSummary, ExportError> {
    let limit = request.limit;
    let mut summary = ExportSummary::default();
    let mut total = None;
    let mut page_number = 0;
    while let Some(outcome) = pages.next().await {
        page_number += 1;
        let page = match outcome.result {
            Ok(page) => page,
            Err(source) => {
                let hint = filter_hint(writer.resource, request.filter.as_deref(), &source);
                let written = writer.abort()?;
                return Err(ExportError::Listing {
                    page: page_number,
                    written,
                    format: request.format,
                    source,
                    hint,
                });
            }
        };
        total = total.or(page.count);
        for warning in &page.warnings {
            if warning.skipped() {
                summary.skipped += 1;
            } else {
                summary.altered += 1;
            }
            on_event(ExportEvent::Warning(warning.to_string()));
        }
        let room = limit.map_or(usize::MAX, |l| usize::try_from(l - writer.written()).unwrap_or(usize::MAX));
        let refused = write(
            &mut writer,
            &page.devices[..page.devices.len().min(room)],
            &outcome.exchange.response_body,
        )?;
        summary.skipped += refused.len() as u64;
        for problem in refused {
            on_event(ExportEvent::Warning(problem));
        }
        on_event(ExportEvent::Progress { written: writer.written(), total });
        if limit.is_some_and(|l| writer.written() >= l) {
            break;
        }
    }
    summary.written = writer.finish()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::imported::IMPORTED;
    use serde_json::json;

    fn record(value: serde_json::Value) -> Record {
        value.as_object().unwrap().clone()
    }

    fn devices() -> Vec<Record> {
        vec![
            record(json!({"id": "a", "serialNumber": "S1", "hardwareIdentifier": "AAEC",
                "groupTag": "Sales, EMEA", "productKey": null, "state": {"deviceImportStatus": "error", "deviceErrorCode": 806}})),
            record(json!({"id": "b", "serialNumber": "S\"2", "hardwareIdentifier": "AAED",
                "assignedUserPrincipalName": "ana@contoso.com"})),
        ]
    }

    fn render_to(
        format: ExportFormat,
        columns: &[String],
        devices: &[Record],
        destination: Destination,
    ) -> (String, Vec<String>) {
        let mut out = Vec::new();
        let mut w = ExportWriter::new(&mut out, &IMPORTED, format, columns, destination);
        let refused = w.write_page(devices).unwrap();
        w.finish().unwrap();
        (String::from_utf8(out).unwrap(), refused)
    }

    fn render(format: ExportFormat, columns: &[String], devices: &[Record]) -> (String, Vec<String>) {
        render_to(format, columns, devices, Destination::Exact)
    }

    #[test]
    fn json_is_one_array() {
        let (text, _) = render(ExportFormat::Json, &[], &devices());
        let back: Vec<Record> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, devices());
        assert_eq!(render(ExportFormat::Json, &[], &[]).0, "[]\n");
    }

    #[test]
    fn nothing_is_written_before_the_first_page_and_a_cut_array_is_closed() {
        let mut out = Vec::new();
        let w = ExportWriter::new(&mut out, &IMPORTED, ExportFormat::Json, &[], Destination::Exact);
        assert_eq!(w.abort().unwrap(), 0);
        assert!(out.is_empty());
        let mut out = Vec::new();
        let mut w = ExportWriter::new(&mut out, &IMPORTED, ExportFormat::Json, &[], Destination::Exact);
        w.write_page(&devices()).unwrap();
        assert_eq!(w.abort().unwrap(), 2);
        let back: Vec<Record> = serde_json::from_slice(&out).unwrap();
        assert_eq!(back.len(), 2);
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let cols =
            vec!["serialNumber".to_string(), "groupTag".to_string(), "state/deviceErrorCode".to_string()];
        let (text, _) = render(ExportFormat::Csv, &cols, &devices());
        assert_eq!(
            text,
            "serialNumber,groupTag,state/deviceErrorCode\nS1,\"Sales, EMEA\",806\n\"S\"\"2\",,0\n"
        );
    }

    #[test]
    fn state_stands_for_its_columns_and_sub_properties_select_state() {
        let select =
            |s: &[&str]| plan_select(&IMPORTED, false, &s.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let (columns, properties) = select(&["serialNumber", "groupTag", "state"]);
        assert_eq!(
            columns,
            [
                "serialNumber",
                "groupTag",
                "state/deviceImportStatus",
                "state/deviceRegistrationId",
                "state/deviceErrorCode",
                "state/deviceErrorName"
            ]
        );
        assert_eq!(properties, ["serialNumber", "groupTag", "state"]);
        let (columns, properties) =
            select(&["serialNumber", "state/deviceImportStatus", "state/deviceErrorCode"]);
        assert_eq!(columns, ["serialNumber", "state/deviceImportStatus", "state/deviceErrorCode"]);
        assert_eq!(properties, ["serialNumber", "state"]);
        let (text, _) = render(ExportFormat::Csv, &select(&["serialNumber", "state"]).0, &devices()[..1]);
        assert_eq!(text.lines().nth(1), Some("S1,error,,806,"));
    }

    #[test]
    fn registered_columns_leave_the_secret_out_and_its_hash_csv_is_refused() {
        use crate::graph::registered::REGISTERED;
        let (columns, select) = plan_select(&REGISTERED, true, &[]);
        assert!(columns.contains(&"deviceAccountUpn".to_string()) && select.is_empty());
        assert!(!columns.contains(&"deviceAccountPassword".to_string()));
        let request = |format, select: &[&str]| ExportRequest {
            format,
            select: select.iter().map(|s| s.to_string()).collect(),
            filter: None,
            page_size: 10,
            limit: None,
            count: false,
            destination: Destination::Exact,
        };
        assert!(request(ExportFormat::AutopilotCsv, &[]).check(&IMPORTED).is_ok());
        let refused = request(ExportFormat::AutopilotCsv, &[]).check(&REGISTERED).unwrap_err();
        assert!(
            refused.to_string().starts_with("Registered devices have no hardware hash in Graph"),
            "{refused}"
        );
        let refused =
            request(ExportFormat::Json, &["id", " deviceaccountpassword"]).check(&REGISTERED).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "deviceaccountpassword (Account password) is a secret: it is never written; leave it out of --select."
        );
        assert!(request(ExportFormat::Csv, &["id", "serialNumber"]).check(&REGISTERED).is_ok());
    }

    #[test]
    fn control_characters_are_refused_in_files_and_escaped_on_a_terminal() {
        let mut hostile = devices()[0].clone();
        hostile.insert("groupTag".into(), json!("x\u{1b}]52;c;SGk=\u{7}\u{202e}"));
        let cols = vec!["serialNumber".to_string(), "groupTag".to_string()];
        let (text, refused) = render(ExportFormat::Csv, &cols, &[hostile.clone()]);
        assert_eq!(text, "serialNumber,groupTag\n");
        assert_eq!(refused, ["device a (serial S1) skipped: a value holds the control character ⟨U+001B⟩"]);
        let (text, refused) = render_to(ExportFormat::Csv, &cols, &[hostile.clone()], Destination::Terminal);
        assert!(refused.is_empty());
        assert_eq!(text.lines().nth(1), Some("S1,x⟨U+001B⟩]52;c;SGk=⟨U+0007⟩⟨U+202E⟩"));
        let (text, _) = render_to(ExportFormat::Json, &[], &[hostile], Destination::Terminal);
        assert!(!text.contains(['\u{1b}', '\u{7}', '\u{202e}']), "{text}");
        let back: Vec<Record> = serde_json::from_str(&text).unwrap();
        assert_eq!(back[0]["groupTag"], json!("x\u{1b}]52;c;SGk=\u{7}\u{202e}"));
    }

    #[test]
    fn autopilot_csv_round_trip_and_refusal() {
        for bad in devices() {
            let (text, refused) = render(ExportFormat::AutopilotCsv, &[], std::slice::from_ref(&bad));
            assert_eq!(text.lines().count(), 1);
            assert!(refused[0].contains("comma, quote"), "{refused:?}");
            assert!(
                refused[0].starts_with(&format!("device {} (serial", bad["id"].as_str().unwrap())),
                "{refused:?}"
            );
        }
        let clean = record(
            json!({"id": "c", "serialNumber": "PF3X", "hardwareIdentifier": "AAEC", "groupTag": "Kiosk"}),
        );
        let no_hash = record(json!({"id": "d", "serialNumber": "PF3Y"}));
        let (text, refused) = render(ExportFormat::AutopilotCsv, &[], &[clean, no_hash]);
        assert_eq!(
            refused,
            ["device d (serial PF3Y) skipped: no hardware hash (was it left out by --select?)"]
        );
        assert_eq!(text.lines().next(), Some(crate::graph::csv::HEADER));
        assert_eq!(text.lines().nth(1), Some("PF3X,,AAEC,Kiosk,"));
        // The checker reads the row back; only the demo hash's size (3 bytes) is refused.
        let report = crate::graph::csv::check(text.as_bytes());
        let kinds: Vec<_> = report.problems.iter().map(|p| (p.line, p.kind)).collect();
        assert_eq!(kinds, [(2, crate::graph::csv::ProblemKind::HashSize)]);
    }
}
