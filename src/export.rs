//! `autopilot-tui list`: devices streamed page by page to a writer as JSON, CSV, or the
//! Autopilot hardware-hash CSV that the Intune portal imports (spec section 5).

use crate::graph::client::{GraphClient, ListQuery, Outcome, Page, RawDevice};
use crate::graph::error::GraphError;
use crate::graph::model::{Device, FIELDS, FieldId};
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

/// The hardware-hash CSV header, exactly as the portal wants it.
pub const AUTOPILOT_CSV_HEADER: &str =
    "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User";

/// Why `list` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Graph answered with an error or could not be reached.
    #[error("{0}")]
    Graph(#[from] GraphError),
    /// Writing the output failed (closed pipe, full disk).
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
    /// A value cannot go into the hardware-hash CSV, which allows no quoting.
    #[error("device {id}: {problem}; the Autopilot CSV allows no quotes, so this row cannot be written")]
    AutopilotCsv {
        /// The device.
        id: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Writes devices in one format, page by page, holding no more than a page in memory.
pub struct ExportWriter<W: Write> {
    out: W,
    format: ExportFormat,
    columns: Vec<String>,
    written: u64,
}

impl<W: Write> ExportWriter<W> {
    /// Starts the output (CSV header, JSON `[`). `columns` are the CSV columns (OData paths);
    /// empty means every field of the field table.
    pub fn begin(
        mut out: W,
        format: ExportFormat,
        columns: &[String],
    ) -> Result<ExportWriter<W>, ExportError> {
        let columns: Vec<String> =
            if columns.is_empty() { FIELDS.iter().map(|f| f.path()).collect() } else { columns.to_vec() };
        match format {
            ExportFormat::Json => out.write_all(b"[")?,
            ExportFormat::Csv => {
                writeln!(out, "{}", columns.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","))?
            }
            ExportFormat::AutopilotCsv => writeln!(out, "{AUTOPILOT_CSV_HEADER}")?,
        }
        Ok(ExportWriter { out, format, columns, written: 0 })
    }

    /// Writes one page of devices.
    pub fn write_page(&mut self, devices: &[Device]) -> Result<(), ExportError> {
        for device in devices {
            match self.format {
                ExportFormat::Json => {
                    self.out.write_all(if self.written == 0 { b"\n" } else { b",\n" })?;
                    let mut doc = serde_json::to_value(device).map_err(std::io::Error::other)?;
                    if let Some(map) = doc.as_object_mut() {
                        map.remove("@odata.context");
                    }
                    serde_json::to_writer(&mut self.out, &doc).map_err(std::io::Error::other)?;
                }
                ExportFormat::Csv => {
                    let row: Vec<String> =
                        self.columns.iter().map(|c| csv_field(&column_text(device, c))).collect();
                    writeln!(self.out, "{}", row.join(","))?;
                }
                ExportFormat::AutopilotCsv => writeln!(self.out, "{}", autopilot_csv_row(device)?)?,
            }
            self.written += 1;
        }
        Ok(())
    }

    /// Writes one page of devices as the server sent them (JSON only: no decoding, no
    /// encoding again, which is most of the cost of a large export). `devices` are byte ranges
    /// of `body` (see [`GraphClient::list_raw`]).
    pub fn write_raw_page(&mut self, devices: &[RawDevice], body: &str) -> Result<(), ExportError> {
        debug_assert_eq!(self.format, ExportFormat::Json);
        for device in devices {
            self.out.write_all(if self.written == 0 { b"\n" } else { b",\n" })?;
            self.out.write_all(body.as_bytes().get(device.clone()).unwrap_or_default())?;
            self.written += 1;
        }
        Ok(())
    }

    /// Ends the output (JSON `]`) and flushes; returns how many devices were written.
    pub fn finish(mut self) -> Result<u64, ExportError> {
        if self.format == ExportFormat::Json {
            self.out.write_all(if self.written == 0 { b"]\n" } else { b"\n]\n" })?;
        }
        self.out.flush()?;
        Ok(self.written)
    }
}

/// A device property by OData path as CSV text (`null` is empty); unknown paths are looked up
/// among the properties this client does not model.
fn column_text(device: &Device, path: &str) -> String {
    match FieldId::from_path(path) {
        Some(field) => device.get(field).to_text(),
        None => match device.extra.get(path) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        },
    }
}

/// RFC 4180: quote when the value has a comma, quote, CR or LF; double the quotes.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

fn autopilot_csv_row(device: &Device) -> Result<String, ExportError> {
    let problem = |p: &str| ExportError::AutopilotCsv { id: device.id.clone(), problem: p.to_string() };
    let serial = device
        .serial_number
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| problem("no serial number"))?;
    let hash = device
        .hardware_identifier
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| problem("no hardware hash (was it left out by --select?)"))?;
    let cells = [
        serial,
        device.product_key.as_deref().unwrap_or(""),
        hash,
        device.group_tag.as_deref().unwrap_or(""),
        device.assigned_user_principal_name.as_deref().unwrap_or(""),
    ];
    if let Some(bad) = cells.iter().find(|c| c.contains([',', '"', '\n', '\r'])) {
        return Err(problem(&format!("value {bad:?} holds a comma, quote or line break")));
    }
    Ok(cells.join(","))
}

/// One row of a hardware-hash CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardwareHashRow {
    /// `Device Serial Number`
    pub serial_number: String,
    /// `Windows Product ID`
    pub product_key: Option<String>,
    /// `Hardware Hash`
    pub hardware_hash: String,
    /// `Group Tag`
    pub group_tag: Option<String>,
    /// `Assigned User`
    pub assigned_user: Option<String>,
}

/// Parses a hardware-hash CSV as the portal reads it (exact header, the last two columns
/// optional, no quoting). Errors name the 1-based line.
pub fn parse_autopilot_csv(text: &str) -> Result<Vec<HardwareHashRow>, String> {
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, l)| l).unwrap_or("");
    let header_cells: Vec<&str> = header.split(',').collect();
    let full: Vec<&str> = AUTOPILOT_CSV_HEADER.split(',').collect();
    if header_cells.len() < 3 || full.get(..header_cells.len()) != Some(&header_cells[..]) {
        return Err(format!("line 1: header must be '{AUTOPILOT_CSV_HEADER}' (the last two optional)"));
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != header_cells.len() {
            return Err(format!("line {}: {} values, header has {}", i + 1, cells.len(), header_cells.len()));
        }
        let opt = |i: usize| cells.get(i).filter(|c| !c.is_empty()).map(|c| c.to_string());
        if cells[0].is_empty() || cells[2].is_empty() {
            return Err(format!("line {}: serial number and hardware hash are required", i + 1));
        }
        rows.push(HardwareHashRow {
            serial_number: cells[0].to_string(),
            product_key: opt(1),
            hardware_hash: cells[2].to_string(),
            group_tag: opt(3),
            assigned_user: opt(4),
        });
    }
    Ok(rows)
}

/// Runs a listing into a writer page by page, stopping after `limit` devices if given.
/// `on_page` is told the running total and `@odata.count` (for a progress line). Returns how
/// many devices were written.
pub async fn export<W: Write>(
    client: &GraphClient,
    query: &ListQuery,
    format: ExportFormat,
    limit: Option<u64>,
    out: W,
    on_page: impl FnMut(u64, Option<u64>),
) -> Result<u64, ExportError> {
    let writer = ExportWriter::begin(out, format, &query.select)?;
    match format {
        ExportFormat::Json => {
            write_pages(client.list_raw(query), writer, limit, on_page, ExportWriter::write_raw_page).await
        }
        ExportFormat::Csv | ExportFormat::AutopilotCsv => {
            write_pages(client.list(query), writer, limit, on_page, |w, devices, _| w.write_page(devices))
                .await
        }
    }
}

/// How one page of `T` is written, given the page's response body.
type WritePage<W, T> = fn(&mut ExportWriter<W>, &[T], &str) -> Result<(), ExportError>;

async fn write_pages<W: Write, T>(
    mut pages: futures_util::stream::BoxStream<'static, Outcome<Page<T>>>,
    mut writer: ExportWriter<W>,
    limit: Option<u64>,
    mut on_page: impl FnMut(u64, Option<u64>),
    write: WritePage<W, T>,
) -> Result<u64, ExportError> {
    let mut total = None;
    while let Some(outcome) = pages.next().await {
        let page = outcome.result?;
        total = total.or(page.count);
        let room = limit.map_or(usize::MAX, |l| usize::try_from(l - writer.written).unwrap_or(usize::MAX));
        write(&mut writer, &page.devices[..page.devices.len().min(room)], &outcome.exchange.response_body)?;
        on_page(writer.written, total);
        if limit.is_some_and(|l| writer.written >= l) {
            break;
        }
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn devices() -> Vec<Device> {
        vec![
            serde_json::from_value(json!({"id": "a", "serialNumber": "S1", "hardwareIdentifier": "AAEC",
                "groupTag": "Sales, EMEA", "productKey": null, "state": {"deviceImportStatus": "error", "deviceErrorCode": 806}}))
            .unwrap(),
            serde_json::from_value(json!({"id": "b", "serialNumber": "S\"2", "hardwareIdentifier": "AAED",
                "assignedUserPrincipalName": "ana@contoso.com"}))
            .unwrap(),
        ]
    }

    fn render(format: ExportFormat, columns: &[String], devices: &[Device]) -> Result<String, ExportError> {
        let mut out = Vec::new();
        let mut w = ExportWriter::begin(&mut out, format, columns)?;
        w.write_page(devices)?;
        w.finish()?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn json_is_one_array() {
        let text = render(ExportFormat::Json, &[], &devices()).unwrap();
        let back: Vec<Device> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, devices());
        assert_eq!(render(ExportFormat::Json, &[], &[]).unwrap(), "[]\n");
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let cols =
            vec!["serialNumber".to_string(), "groupTag".to_string(), "state/deviceErrorCode".to_string()];
        let text = render(ExportFormat::Csv, &cols, &devices()).unwrap();
        assert_eq!(
            text,
            "serialNumber,groupTag,state/deviceErrorCode\nS1,\"Sales, EMEA\",806\n\"S\"\"2\",,0\n"
        );
    }

    #[test]
    fn autopilot_csv_round_trip_and_refusal() {
        for bad in devices() {
            let err = render(ExportFormat::AutopilotCsv, &[], &[bad]).unwrap_err();
            assert!(err.to_string().contains("comma, quote"), "{err}");
        }
        let clean: Device = serde_json::from_value(
            json!({"id": "c", "serialNumber": "PF3X", "hardwareIdentifier": "AAEC", "groupTag": "Kiosk"}),
        )
        .unwrap();
        let text = render(ExportFormat::AutopilotCsv, &[], &[clean]).unwrap();
        assert_eq!(text.lines().next(), Some(AUTOPILOT_CSV_HEADER));
        let rows = parse_autopilot_csv(&text).unwrap();
        assert_eq!(
            rows,
            vec![HardwareHashRow {
                serial_number: "PF3X".into(),
                product_key: None,
                hardware_hash: "AAEC".into(),
                group_tag: Some("Kiosk".into()),
                assigned_user: None
            }]
        );
        assert!(parse_autopilot_csv("serial,hash\nx,y\n").is_err());
    }
}
