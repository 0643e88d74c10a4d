//! The Autopilot hardware-hash CSV (spec section 5): its columns, and the checker that reads a
//! whole file at once and reports every problem with its CSV line (1 = the header), beside the
//! rows that can go to Graph's `import` action. Pure: bytes in, a [`Report`] out. (`list
//! --format autopilot-csv` writes the format with the same column table, in `export.rs`.)
//!
//! The rules, and what was chosen where the portal's own rules say little:
//! - **Header**: exactly `Device Serial Number,Windows Product ID,Hardware Hash`, then optionally
//!   `Group Tag`, then optionally `Assigned User`; case-sensitive. A known column with another
//!   case or spaces, and an unknown, missing, repeated or misplaced column, are problems of the
//!   header's line. Rows are still read by column name whenever the serial and hash columns are
//!   found, so one pass shows everything; without either of them no row is read.
//! - **One line, one row**: the format has no quoting, so any `"` is a problem (a quoted value is
//!   still read, so its other problems show too), and every row has as many values as the
//!   header has columns. Lines end in LF or CRLF. A line that is empty or holds only commas,
//!   spaces and tabs (what spreadsheets leave) is a blank line: a problem, and no row.
//! - **Encoding**: the portal takes ANSI, and only ASCII reads the same in every ANSI code page,
//!   so a byte from 0x80 up in a value is a problem of its row, named as the character it is in
//!   UTF-8 when the bytes are UTF-8, else in Windows-1252; so is a control character (tab, NUL,
//!   a lone CR). A UTF-8 byte-order mark and a UTF-16 file (with or without its mark: what
//!   PowerShell 5's `Out-File` writes) are problems of the file: the mark is dropped, UTF-16 is
//!   decoded, and the rows are checked as text, since what is sent to Graph is JSON either way.
//! - **Values**: the serial and the hash must not be empty; no value may start or end with a
//!   space; lengths and the user's shape are the imported identity's own field checks
//!   (`validate::parse`: a group tag takes at most 512 characters, a user must be
//!   `name@domain.tld`).
//! - **Hash**: standard base64 (`+`, `/`, `=` padding), as the portal takes it. One that is not
//!   is named as base64url (`-`, `_`), cut (a length or padding that cannot end base64) or
//!   otherwise not base64 (the first wrong character); one that decodes to base64 text again is
//!   double-encoded; its decoded size must lie within [`MIN_HASH_BYTES`]..=[`MAX_HASH_BYTES`].
//! - **Duplicates** (serials compared without case): a line that repeats an earlier one exactly
//!   is a problem of its own and the earlier line still goes; two lines with the same serial
//!   or the same hash that differ otherwise both stay out, each naming the other, since only
//!   the admin knows which is right.
//!
//! Problems of line 1 never keep rows out (they matter to the portal, not to what is sent);
//! every other problem keeps its row out of [`Report::rows`].

use crate::graph::imported::IMPORTED;
use crate::graph::resource::Record;
use crate::graph::validate::{self, FieldError};
use crate::terminal_text::escape_for_terminal;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// The whole header, exactly as the portal wants it (the last two columns may be left out).
pub const HEADER: &str = "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User";

/// The most rows the portal takes in one CSV (Graph's `import` is sent in chunks of this size).
pub const PORTAL_ROW_LIMIT: usize = 500;

/// The smallest decoded hash taken. Real hashes (the "4K hardware hash" that
/// `Get-WindowsAutopilotInfo` reads from `MDM_DevDetail_Ext01`; "the 4 KB hardware hash blob" of
/// the spec) are about 4,000 bytes; a quarter of that still lets the smaller OEM hash through,
/// and anything smaller is a fragment or a placeholder.
pub const MIN_HASH_BYTES: usize = 1024;

/// The largest decoded hash taken: the 16,384 base64 characters the imported identity's
/// `hardwareIdentifier` field takes, decoded. Anything larger is something else pasted in.
pub const MAX_HASH_BYTES: usize = 16_384 / 4 * 3;

/// `@odata.type` of a row sent to the `import` action.
pub const IMPORT_ODATA_TYPE: &str = "#microsoft.graph.importedWindowsAutopilotDeviceIdentity";

/// A column of the hardware-hash CSV, in the portal's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CsvColumn {
    /// `Device Serial Number` (`serialNumber`), required.
    SerialNumber,
    /// `Windows Product ID` (`productKey`), in every header, often empty.
    ProductId,
    /// `Hardware Hash` (`hardwareIdentifier`), required.
    HardwareHash,
    /// `Group Tag` (`groupTag`), optional.
    GroupTag,
    /// `Assigned User` (`assignedUserPrincipalName`), optional.
    AssignedUser,
}

impl CsvColumn {
    /// Every column, in the portal's order.
    pub const ALL: [CsvColumn; 5] = [
        CsvColumn::SerialNumber,
        CsvColumn::ProductId,
        CsvColumn::HardwareHash,
        CsvColumn::GroupTag,
        CsvColumn::AssignedUser,
    ];

    /// The column's name in the header.
    pub fn header(self) -> &'static str {
        match self {
            CsvColumn::SerialNumber => "Device Serial Number",
            CsvColumn::ProductId => "Windows Product ID",
            CsvColumn::HardwareHash => "Hardware Hash",
            CsvColumn::GroupTag => "Group Tag",
            CsvColumn::AssignedUser => "Assigned User",
        }
    }

    /// The imported identity's property the column fills.
    pub fn property(self) -> &'static str {
        match self {
            CsvColumn::SerialNumber => "serialNumber",
            CsvColumn::ProductId => "productKey",
            CsvColumn::HardwareHash => "hardwareIdentifier",
            CsvColumn::GroupTag => "groupTag",
            CsvColumn::AssignedUser => "assignedUserPrincipalName",
        }
    }

    /// Whether every header has it (the first three).
    pub fn in_every_header(self) -> bool {
        !matches!(self, CsvColumn::GroupTag | CsvColumn::AssignedUser)
    }

    /// Whether every row needs a value in it (serial and hash).
    pub fn value_required(self) -> bool {
        matches!(self, CsvColumn::SerialNumber | CsvColumn::HardwareHash)
    }
}

impl fmt::Display for CsvColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.header())
    }
}

/// How the file's bytes were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No byte-order mark: one byte a character (ASCII is expected; see the module's note).
    Plain,
    /// A UTF-8 byte-order mark, dropped; the rest read as [`Encoding::Plain`].
    Utf8Bom,
    /// UTF-16, little-endian (with or without its mark), decoded.
    Utf16Le,
    /// UTF-16, big-endian (with or without its mark), decoded.
    Utf16Be,
}

/// What kind of problem a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// The file is empty (no header).
    Empty,
    /// The file is UTF-16 (line 1; its rows are still checked).
    Utf16,
    /// The file starts with a UTF-8 byte-order mark (line 1).
    Bom,
    /// A known column spelled with another case or with spaces around it (line 1).
    HeaderCase,
    /// A column the portal does not know (line 1; its values are not read).
    UnknownColumn,
    /// A column the header must have is not there (line 1).
    MissingColumn,
    /// A column named twice (line 1; the first is read).
    DuplicateColumn,
    /// The columns are not in the portal's order (line 1).
    ColumnOrder,
    /// A header and no rows.
    NoRows,
    /// An empty line, or one of only commas and spaces.
    BlankLine,
    /// A `"` on the line: the format has no quoting.
    Quotes,
    /// More or fewer values than the header has columns.
    ColumnCount,
    /// A byte from 0x80 up: not ASCII, so not the same in every ANSI code page.
    NonAnsi,
    /// A control character (tab, NUL, a lone CR, ...).
    ControlCharacter,
    /// The serial number is empty.
    EmptySerial,
    /// The hardware hash is empty.
    EmptyHash,
    /// A value starts or ends with a space.
    SurroundingSpace,
    /// A value longer than its field takes (a group tag over 512 characters).
    TooLong,
    /// An assigned user that is not `name@domain.tld`.
    NotUpn,
    /// A hash that is not base64 at all.
    HashNotBase64,
    /// A hash in the base64url alphabet (`-`, `_`) instead of standard base64.
    HashBase64Url,
    /// A hash whose length or padding cannot end base64: cut short or its `=` dropped.
    HashCut,
    /// A hash that decodes to base64 text again (encoded twice).
    HashDoubleEncoded,
    /// A hash whose decoded size is outside [`MIN_HASH_BYTES`]..=[`MAX_HASH_BYTES`].
    HashSize,
    /// The same serial on another line, with other values.
    DuplicateSerial,
    /// The same hash on another line, under another serial.
    DuplicateHash,
    /// A line that repeats an earlier line exactly (the earlier one still goes).
    DuplicateRow,
}

/// One problem of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The CSV line, counting from 1 (the header).
    pub line: usize,
    /// The column it is in, when it is in one.
    pub column: Option<CsvColumn>,
    /// What kind of problem it is.
    pub kind: ProblemKind,
    /// For a duplicate: the other line.
    pub other_line: Option<usize>,
    /// In plain words, for an admin: the value (escaped, cut if long) and what to do.
    pub message: String,
}

impl Problem {
    /// The column's header name, when the problem is in a column.
    pub fn column_name(&self) -> Option<&'static str> {
        self.column.map(CsvColumn::header)
    }

    /// Whether it is about the file or its header (line 1), which keeps no row out.
    pub fn is_about_the_file(&self) -> bool {
        self.line == 1
    }
}

impl fmt::Display for Problem {
    /// `line 7, Hardware Hash: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "line {}, {column}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// One row that can be sent, its values as the import takes them (ASCII, no surrounding
/// spaces, an empty optional value as `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardwareHashRow {
    /// The CSV line it came from.
    pub line: usize,
    /// `Device Serial Number` -> `serialNumber`.
    pub serial_number: String,
    /// `Windows Product ID` -> `productKey`.
    pub product_key: Option<String>,
    /// `Hardware Hash` -> `hardwareIdentifier`: standard, padded base64.
    pub hardware_identifier: String,
    /// `Group Tag` -> `groupTag`.
    pub group_tag: Option<String>,
    /// `Assigned User` -> `assignedUserPrincipalName`.
    pub assigned_user_principal_name: Option<String>,
}

impl HardwareHashRow {
    /// The value of a column (`None` when empty).
    pub fn value(&self, column: CsvColumn) -> Option<&str> {
        match column {
            CsvColumn::SerialNumber => Some(&self.serial_number),
            CsvColumn::ProductId => self.product_key.as_deref(),
            CsvColumn::HardwareHash => Some(&self.hardware_identifier),
            CsvColumn::GroupTag => self.group_tag.as_deref(),
            CsvColumn::AssignedUser => self.assigned_user_principal_name.as_deref(),
        }
    }

    /// The row as one `importedWindowsAutopilotDeviceIdentity` of the `import` action's body:
    /// `@odata.type` and the row's properties (an empty optional value is left out).
    pub fn to_import_json(&self) -> Record {
        let mut record = Record::new();
        record.insert("@odata.type".into(), Value::String(IMPORT_ODATA_TYPE.into()));
        for column in CsvColumn::ALL {
            if let Some(value) = self.value(column) {
                record.insert(column.property().into(), Value::String(value.into()));
            }
        }
        record
    }
}

/// What the checker found: the rows that can be sent and every problem, in line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// How the bytes were read.
    pub encoding: Encoding,
    /// Lines after the header that hold a row (blank lines not counted).
    pub data_rows: usize,
    /// The rows without a problem of their own, in file order.
    pub rows: Vec<HardwareHashRow>,
    /// Every problem, by line (then column).
    pub problems: Vec<Problem>,
    /// The serial of each row kept out by a problem, by line, where the serial itself read
    /// cleanly (so results can name the device of every line).
    pub refused_serials: Vec<(usize, String)>,
}

impl Report {
    /// True when the file has no problem at all.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// The rows kept out by their problems.
    pub fn refused_rows(&self) -> usize {
        self.data_rows - self.rows.len()
    }

    /// The problems of the file and its header (line 1).
    pub fn file_problems(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.is_about_the_file())
    }
}

/// Checks a whole hardware-hash CSV.
pub fn check(bytes: &[u8]) -> Report {
    let (encoding, text) = decode(bytes);
    let mut checker = Checker { encoding, problems: Vec::new() };
    match encoding {
        Encoding::Utf16Le | Encoding::Utf16Be => checker.file(
            ProblemKind::Utf16,
            "the file is UTF-16 (\"Unicode\"), as PowerShell 5's Out-File and Excel's Unicode Text write \
             it; the portal takes ANSI only: save it as ANSI or ASCII (PowerShell: Out-File -Encoding ascii) \
             before uploading it there. Its rows were read as text and are checked below."
                .into(),
        ),
        Encoding::Utf8Bom => checker.file(
            ProblemKind::Bom,
            "the file starts with a UTF-8 byte-order mark (bytes EF BB BF), which is not ANSI and can be \
             read as part of the first column's name: save the file as ANSI (or UTF-8 without BOM)."
                .into(),
        ),
        Encoding::Plain => {}
    }
    if split_lines(&text).all(is_blank) {
        checker.file(
            ProblemKind::Empty,
            format!(
                "the file is empty: it needs the header '{HEADER}' (the last two columns optional) and one \
                 line per device."
            ),
        );
        return checker.report(0, Vec::new(), Vec::new());
    }
    let mut lines = split_lines(&text);
    let Some(header_line) = lines.next().filter(|l| !is_blank(l)) else {
        checker.file(
            ProblemKind::BlankLine,
            format!("the first line is blank: the header '{HEADER}' must be line 1; no row was read."),
        );
        return checker.report(0, Vec::new(), Vec::new());
    };
    let header = checker.header(header_line);
    let mut drafts = Vec::new();
    let mut data_rows = 0;
    for (index, line) in lines.enumerate() {
        let number = index + 2;
        if is_blank(line) {
            checker.push(
                number,
                None,
                ProblemKind::BlankLine,
                "the line is blank (or holds only commas): remove it.".into(),
            );
            continue;
        }
        data_rows += 1;
        if let Some(draft) = checker.row(number, line, &header) {
            drafts.push(draft);
        }
    }
    if data_rows == 0 {
        checker.file(
            ProblemKind::NoRows,
            "the file has a header but no devices: add one line per device below it.".into(),
        );
    }
    let refused = checker.duplicates(&drafts);
    let mut rows = Vec::with_capacity(drafts.len());
    let mut refused_serials = Vec::new();
    for (draft, refused) in drafts.into_iter().zip(refused) {
        if draft.valid && !refused {
            rows.push(draft.into_row());
        } else if let Some(serial) = draft.value(CsvColumn::SerialNumber) {
            refused_serials.push((draft.line, serial.to_string()));
        }
    }
    checker.report(data_rows, rows, refused_serials)
}

/// The file's bytes as one-byte text: a byte-order mark dropped, UTF-16 decoded.
fn decode(bytes: &[u8]) -> (Encoding, Cow<'_, [u8]>) {
    let utf16 = |rest: &[u8], little: bool| {
        let units = rest.chunks_exact(2).map(|pair| {
            let pair = [pair[0], pair[1]];
            if little { u16::from_le_bytes(pair) } else { u16::from_be_bytes(pair) }
        });
        let text: String = char::decode_utf16(units).map(|c| c.unwrap_or('\u{fffd}')).collect();
        Cow::Owned(text.into_bytes())
    };
    match bytes {
        [0xff, 0xfe, rest @ ..] => (Encoding::Utf16Le, utf16(rest, true)),
        [0xfe, 0xff, rest @ ..] => (Encoding::Utf16Be, utf16(rest, false)),
        [0xef, 0xbb, 0xbf, rest @ ..] => (Encoding::Utf8Bom, Cow::Borrowed(rest)),
        // Without a mark, ASCII text in UTF-16 has a zero byte beside every character.
        [a, 0, b, 0, ..] if *a != 0 && *b != 0 => (Encoding::Utf16Le, utf16(bytes, true)),
        [0, a, 0, b, ..] if *a != 0 && *b != 0 => (Encoding::Utf16Be, utf16(bytes, false)),
        _ => (Encoding::Plain, Cow::Borrowed(bytes)),
    }
}

/// The lines of the text, without their LF or CRLF; a final line break ends the last line.
fn split_lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    text.split(|b| *b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line))
}

/// Empty, or only commas, spaces and tabs.
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b',' | b' ' | b'\t'))
}

/// A line's values, and which of them held a quote.
struct Cells<'a> {
    values: Vec<Cow<'a, [u8]>>,
    first_quoted: Option<usize>,
}

/// Splits a line at its commas. A line with quotes is split as RFC 4180 would (a quoted comma
/// stays in its value), so the quotes are one problem and not a cascade of column errors.
fn split_cells(line: &[u8]) -> Cells<'_> {
    if memchr::memchr(b'"', line).is_none() {
        return Cells { values: line.split(|b| *b == b',').map(Cow::Borrowed).collect(), first_quoted: None };
    }
    let mut values = Vec::new();
    let mut first_quoted = None;
    let mut at = 0;
    loop {
        let comma = |from: usize| memchr::memchr(b',', &line[from..]).map_or(line.len(), |p| from + p);
        let end = if line.get(at) == Some(&b'"') {
            let mut value = Vec::new();
            let mut i = at + 1;
            while let Some(&b) = line.get(i) {
                match (b, line.get(i + 1)) {
                    (b'"', Some(b'"')) => {
                        value.push(b'"');
                        i += 2;
                    }
                    (b'"', _) => {
                        i += 1;
                        break;
                    }
                    _ => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
            // Whatever follows the closing quote up to the comma stays in the value.
            let end = comma(i);
            value.extend_from_slice(&line[i..end]);
            first_quoted = first_quoted.or(Some(values.len()));
            values.push(Cow::Owned(value));
            end
        } else {
            let end = comma(at);
            if memchr::memchr(b'"', &line[at..end]).is_some() {
                first_quoted = first_quoted.or(Some(values.len()));
            }
            values.push(Cow::Borrowed(&line[at..end]));
            end
        };
        if end >= line.len() {
            break;
        }
        at = end + 1;
    }
    Cells { values, first_quoted }
}

/// Where the header puts each column.
struct Header {
    /// The position of each [`CsvColumn`] (by its order), if the header has it.
    position: [Option<usize>; 5],
    /// The column at each position (`None`: unknown, or a repeat).
    at: Vec<Option<CsvColumn>>,
}

impl Header {
    fn has(&self, column: CsvColumn) -> bool {
        self.position[column as usize].is_some()
    }
}

/// A row as read, before duplicates are looked for.
struct Draft<'a> {
    line: usize,
    /// Each column's value, trimmed (`None`: empty, absent, or unreadable).
    values: [Option<Cow<'a, str>>; 5],
    /// Whether the row has no problem of its own so far.
    valid: bool,
}

impl Draft<'_> {
    fn value(&self, column: CsvColumn) -> Option<&str> {
        self.values[column as usize].as_deref()
    }

    fn into_row(self) -> HardwareHashRow {
        let [serial, product, hash, tag, user] = self.values.map(|v| v.map(Cow::into_owned));
        HardwareHashRow {
            line: self.line,
            serial_number: serial.unwrap_or_default(),
            product_key: product,
            hardware_identifier: hash.unwrap_or_default(),
            group_tag: tag,
            assigned_user_principal_name: user,
        }
    }
}

struct Checker {
    encoding: Encoding,
    problems: Vec<Problem>,
}

impl Checker {
    fn push(&mut self, line: usize, column: Option<CsvColumn>, kind: ProblemKind, message: String) {
        self.problems.push(Problem { line, column, kind, other_line: None, message });
    }

    fn file(&mut self, kind: ProblemKind, message: String) {
        self.push(1, None, kind, message);
    }

    fn report(
        mut self,
        data_rows: usize,
        rows: Vec<HardwareHashRow>,
        refused_serials: Vec<(usize, String)>,
    ) -> Report {
        self.problems.sort_by_key(|p| (p.line, p.column.map_or(0, |c| c as usize + 1)));
        Report { encoding: self.encoding, data_rows, rows, problems: self.problems, refused_serials }
    }

    /// Reads the header, reporting how it differs from the portal's.
    fn header(&mut self, line: &[u8]) -> Header {
        let cells = split_cells(line);
        if cells.first_quoted.is_some() {
            self.file(
                ProblemKind::Quotes,
                "the header has quotes: the format takes none (PowerShell 7: Export-Csv -UseQuotes Never); \
                 write the names without them."
                    .into(),
            );
        }
        let mut header = Header { position: [None; 5], at: Vec::with_capacity(cells.values.len()) };
        for (i, cell) in cells.values.iter().enumerate() {
            let name = display_text(cell);
            let column = CsvColumn::ALL.iter().copied().find(|c| c.header() == name);
            let loose =
                || CsvColumn::ALL.iter().copied().find(|c| c.header().eq_ignore_ascii_case(name.trim()));
            let column = match column.or_else(loose) {
                Some(column) => {
                    if column.header() != name {
                        let what =
                            if name.trim() != name { "has spaces around it" } else { "differs in case" };
                        self.push(
                            1,
                            Some(column),
                            ProblemKind::HeaderCase,
                            format!(
                                "column {} is {}, which {what}: write it exactly '{}' (the portal reads headers case-sensitively).",
                                i + 1,
                                shown(&name),
                                column.header()
                            ),
                        );
                    }
                    Some(column)
                }
                None => {
                    self.file(
                        ProblemKind::UnknownColumn,
                        format!(
                            "column {} is {}, which is not one of the portal's columns ({HEADER}): remove it with \
                             its values (they are not read).",
                            i + 1,
                            shown(&name)
                        ),
                    );
                    None
                }
            };
            let column = column.filter(|c| {
                let first = header.position[*c as usize];
                if let Some(first) = first {
                    self.push(
                        1,
                        Some(*c),
                        ProblemKind::DuplicateColumn,
                        format!(
                            "'{c}' is both column {} and column {}: keep one (column {} is read).",
                            first + 1,
                            i + 1,
                            first + 1
                        ),
                    );
                }
                first.is_none()
            });
            if let Some(c) = column {
                header.position[c as usize] = Some(i);
            }
            header.at.push(column);
        }
        for column in CsvColumn::ALL {
            let needed = column.in_every_header()
                || (column == CsvColumn::GroupTag && header.has(CsvColumn::AssignedUser));
            if needed && !header.has(column) {
                let why = if column.value_required() {
                    "no row can be read without it"
                } else if column == CsvColumn::GroupTag {
                    "Assigned User comes after it; it may be empty"
                } else {
                    "it may be empty, but the header must name it"
                };
                self.push(
                    1,
                    Some(column),
                    ProblemKind::MissingColumn,
                    format!("the header has no '{column}' column ({why}): add it. The header is '{HEADER}'."),
                );
            }
        }
        let known: Vec<CsvColumn> = header.at.iter().flatten().copied().collect();
        if known.windows(2).any(|w| w[0] > w[1]) {
            let order: Vec<&str> = known.iter().map(|c| c.header()).collect();
            self.file(
                ProblemKind::ColumnOrder,
                format!(
                    "the columns are in the order {}; the portal wants them as '{HEADER}' (the last two optional).",
                    order.join(",")
                ),
            );
        }
        header
    }

    /// Reads one row, reporting its problems; `None` when its values cannot be told apart.
    fn row<'a>(&mut self, line: usize, text: &'a [u8], header: &Header) -> Option<Draft<'a>> {
        let cells = split_cells(text);
        let mut valid = true;
        if let Some(first) = cells.first_quoted {
            valid = false;
            self.push(
                line,
                header.at.get(first).copied().flatten(),
                ProblemKind::Quotes,
                "the line has quotes: the format takes none, and a value cannot hold a comma or a quote. \
                 Save the file without quotes (PowerShell 7: Export-Csv -UseQuotes Never)."
                    .into(),
            );
        }
        if cells.values.len() != header.at.len() {
            let (found, wanted) = (cells.values.len(), header.at.len());
            let what = if found > wanted {
                "a value holds a comma (the format cannot carry one) or a value is extra"
            } else {
                "add the missing commas (Windows Product ID, Group Tag and Assigned User may be empty)"
            };
            self.push(
                line,
                None,
                ProblemKind::ColumnCount,
                format!(
                    "the line has {found} values but the header has {wanted} columns: {what}. Its values are \
                     checked once the count is right."
                ),
            );
            return None;
        }
        let mut values: [Option<Cow<'a, str>>; 5] = Default::default();
        for (cell, column) in cells.values.into_iter().zip(&header.at) {
            let Some(column) = *column else { continue };
            match self.cell(line, column, cell) {
                Ok(value) => values[column as usize] = value,
                Err(()) => valid = false,
            }
        }
        if !header.has(CsvColumn::SerialNumber) || !header.has(CsvColumn::HardwareHash) {
            valid = false;
        }
        Some(Draft { line, values, valid })
    }

    /// Checks one value; `Ok` with the value to send (`None` when empty), `Err` when reported.
    fn cell<'a>(
        &mut self,
        line: usize,
        column: CsvColumn,
        bytes: Cow<'a, [u8]>,
    ) -> Result<Option<Cow<'a, str>>, ()> {
        if let Some((kind, message)) = self.byte_problem(&bytes) {
            self.push(line, Some(column), kind, message);
            return Err(());
        }
        // Only printable ASCII is left, so this never fails.
        let text: Cow<'a, str> = match bytes {
            Cow::Borrowed(b) => Cow::Borrowed(std::str::from_utf8(b).map_err(|_| ())?),
            Cow::Owned(b) => Cow::Owned(String::from_utf8(b).map_err(|_| ())?),
        };
        let mut ok = true;
        let trimmed = text.trim_matches(' ');
        if trimmed.is_empty() && !text.is_empty() {
            ok = false;
            self.push(
                line,
                Some(column),
                ProblemKind::SurroundingSpace,
                "the value is only spaces: leave it empty.".into(),
            );
        } else if trimmed.len() != text.len() {
            ok = false;
            let place = match (text.starts_with(' '), text.ends_with(' ')) {
                (true, true) => "at the start and the end",
                (true, false) => "at the start",
                _ => "at the end",
            };
            self.push(
                line,
                Some(column),
                ProblemKind::SurroundingSpace,
                format!("{} has a space {place}, which would become part of it: remove it.", shown(&text)),
            );
        }
        if trimmed.is_empty() {
            return match column {
                CsvColumn::SerialNumber => {
                    self.push(
                        line,
                        Some(column),
                        ProblemKind::EmptySerial,
                        "the serial number is empty: every device needs its serial.".into(),
                    );
                    Err(())
                }
                CsvColumn::HardwareHash => {
                    self.push(
                        line,
                        Some(column),
                        ProblemKind::EmptyHash,
                        "the hardware hash is empty: a device cannot be registered without it; collect it on \
                         the device (Get-WindowsAutopilotInfo) or from its OEM."
                            .into(),
                    );
                    Err(())
                }
                _ if ok => Ok(None),
                _ => Err(()),
            };
        }
        let problem = match column {
            CsvColumn::HardwareHash => hash_problem(trimmed),
            _ => field_problem(column, trimmed),
        };
        if let Some((kind, message)) = problem {
            self.push(line, Some(column), kind, message);
            ok = false;
        }
        let value = match text {
            Cow::Borrowed(t) => Cow::Borrowed(t.trim_matches(' ')),
            Cow::Owned(t) => Cow::Owned(t.trim_matches(' ').to_string()),
        };
        if ok { Ok(Some(value)) } else { Err(()) }
    }

    /// The first byte of a value that is not printable ASCII, as a problem.
    fn byte_problem(&self, bytes: &[u8]) -> Option<(ProblemKind, String)> {
        let at = bytes.iter().position(|b| !(0x20..0x7f).contains(b))?;
        let value = shown(&display_text(bytes));
        let byte = bytes[at];
        if byte < 0x80 {
            let name = match byte {
                b'\t' => "a tab".to_string(),
                b'\r' => "a carriage return (CR without LF)".to_string(),
                0 => "a NUL byte".to_string(),
                _ => format!("the control character {}", crate::terminal_text::visible(char::from(byte))),
            };
            return Some((
                ProblemKind::ControlCharacter,
                format!("{value} holds {name} at position {}: remove it.", at + 1),
            ));
        }
        // Bytes before `at` are ASCII, so `at + 1` is also the position in characters.
        let what = match std::str::from_utf8(bytes) {
            Ok(text) => {
                let c = text[at..].chars().next().unwrap_or('\u{fffd}');
                let more = text.chars().filter(|c| !c.is_ascii()).count() - 1;
                let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
                let form = match self.encoding {
                    Encoding::Utf16Le | Encoding::Utf16Be => String::new(),
                    _ => {
                        let mut utf8 = [0; 4];
                        let hex: Vec<String> =
                            c.encode_utf8(&mut utf8).bytes().map(|b| format!("{b:02X}")).collect();
                        format!(", written as UTF-8 ({})", hex.join(" "))
                    }
                };
                format!(
                    "'{}' (U+{:04X}{form}) at position {}{more} is not ASCII",
                    escape_for_terminal(c.encode_utf8(&mut [0; 4])),
                    c as u32,
                    at + 1
                )
            }
            Err(_) => format!(
                "byte {byte:02X} at position {} ('{}' in Windows-1252) is not ASCII",
                at + 1,
                escape_for_terminal(windows_1252(byte).encode_utf8(&mut [0; 4]))
            ),
        };
        Some((
            ProblemKind::NonAnsi,
            format!(
                "{value}: {what}. The portal takes ANSI files, and only ASCII reads the same in every ANSI code \
                 page: write the value in ASCII."
            ),
        ))
    }

    /// Looks for serials and hashes on more than one line; returns which drafts they keep out.
    fn duplicates(&mut self, drafts: &[Draft<'_>]) -> Vec<bool> {
        let mut refused = vec![false; drafts.len()];
        let mut serials: HashMap<String, usize> = HashMap::new();
        let mut hashes: HashMap<&str, usize> = HashMap::new();
        let mut found = Vec::new();
        for (i, draft) in drafts.iter().enumerate() {
            let mut first_of = |seen: Option<usize>| seen.map(|first| found.push((first, i)));
            if let Some(serial) = draft.value(CsvColumn::SerialNumber) {
                let serial = serial.to_ascii_lowercase();
                let seen = serials.get(&serial).copied();
                serials.entry(serial).or_insert(i);
                if first_of(seen).is_some() {
                    // The same serial: a repeated hash adds nothing to say.
                    continue;
                }
            }
            if let Some(hash) = draft.value(CsvColumn::HardwareHash) {
                let seen = hashes.get(hash).copied();
                hashes.entry(hash).or_insert(i);
                first_of(seen);
            }
        }
        for (first, later) in found {
            let (a, b) = (&drafts[first], &drafts[later]);
            let same_serial = a.value(CsvColumn::SerialNumber).map(str::to_ascii_lowercase)
                == b.value(CsvColumn::SerialNumber).map(str::to_ascii_lowercase);
            let differs: Vec<&str> = CsvColumn::ALL[1..]
                .iter()
                .filter(|c| a.value(**c) != b.value(**c))
                .map(|c| c.header())
                .collect();
            let serial_of = |d: &Draft<'_>| shown(d.value(CsvColumn::SerialNumber).unwrap_or(""));
            if same_serial && differs.is_empty() {
                refused[later] = true;
                self.problems.push(Problem {
                    line: b.line,
                    column: None,
                    kind: ProblemKind::DuplicateRow,
                    other_line: Some(a.line),
                    message: format!(
                        "the line repeats line {} (serial {}): only line {} is sent; remove this one.",
                        a.line,
                        serial_of(a),
                        a.line
                    ),
                });
                continue;
            }
            refused[first] = true;
            refused[later] = true;
            for (this, other) in [(a, b), (b, a)] {
                let (kind, column, what) = if same_serial {
                    let what = format!(
                        "serial {} is also on line {}, with another {}",
                        serial_of(this),
                        other.line,
                        differs.join(" and ")
                    );
                    (ProblemKind::DuplicateSerial, CsvColumn::SerialNumber, what)
                } else {
                    let what = format!(
                        "the hardware hash is also on line {}, under serial {} there; a hash belongs to one device",
                        other.line,
                        serial_of(other)
                    );
                    (ProblemKind::DuplicateHash, CsvColumn::HardwareHash, what)
                };
                self.problems.push(Problem {
                    line: this.line,
                    column: Some(column),
                    kind,
                    other_line: Some(other.line),
                    message: format!("{what}: keep the right line and remove the other (neither is sent)."),
                });
            }
        }
        refused
    }
}

/// The problem of a text value, from the imported identity's own field checks.
fn field_problem(column: CsvColumn, text: &str) -> Option<(ProblemKind, String)> {
    let field = IMPORTED.field(column.property())?;
    match validate::parse(field, text) {
        Ok(_) => None,
        Err(FieldError::TooLong { max, .. }) => Some((
            ProblemKind::TooLong,
            format!("{} is longer than {column} takes ({max} characters at most): shorten it.", shown(text)),
        )),
        Err(FieldError::Upn) => Some((
            ProblemKind::NotUpn,
            format!(
                "{} is not a user principal name (name@domain.tld): give the user's sign-in name, or leave it empty.",
                shown(text)
            ),
        )),
        // Control and invisible characters were reported as bytes; nothing else applies to text.
        Err(_) => None,
    }
}

/// The problem of a hash that is not one the portal takes.
fn hash_problem(text: &str) -> Option<(ProblemKind, String)> {
    let value = shown(text);
    let bytes = match STANDARD.decode(text) {
        Ok(bytes) => bytes,
        Err(error) => return Some(undecodable_hash(text, &value, &error)),
    };
    if let Some(inner) = base64_text(&bytes) {
        return Some((
            ProblemKind::HashDoubleEncoded,
            format!(
                "{value} is base64 of base64 text (encoded twice): decoded once it reads {}, and that text is \
                 the hash: decode the value once, or export the hash again.",
                shown(inner)
            ),
        ));
    }
    if !(MIN_HASH_BYTES..=MAX_HASH_BYTES).contains(&bytes.len()) {
        return Some((
            ProblemKind::HashSize,
            format!(
                "{value} decodes to {} bytes; a hardware hash is about 4,000 bytes (this check takes \
                 {MIN_HASH_BYTES} to {MAX_HASH_BYTES}): it is not a whole hash; collect it again.",
                bytes.len()
            ),
        ));
    }
    None
}

/// Why a hash is not standard base64: base64url, cut, or the first character that is wrong.
fn undecodable_hash(text: &str, value: &str, error: &base64::DecodeError) -> (ProblemKind, String) {
    let standard = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let body = text.trim_end_matches('=');
    let padding = text.len() - body.len();
    if body.contains(['-', '_'])
        && !body.contains(['+', '/'])
        && body.bytes().all(|b| standard(b) || b == b'-' || b == b'_')
        && validate::decode_binary(text).is_ok()
    {
        return (
            ProblemKind::HashBase64Url,
            format!(
                "{value} is base64url (it has '-' or '_'), which the portal does not take: write it in standard \
                 base64 ('+' for '-', '/' for '_', '=' padding to a multiple of 4), or export the hash again."
            ),
        );
    }
    if body.bytes().all(standard) && padding <= 2 {
        let why = if !text.len().is_multiple_of(4) {
            format!("{} characters is not a multiple of 4", text.len())
        } else {
            "its last characters cannot end base64".to_string()
        };
        return (
            ProblemKind::HashCut,
            format!(
                "{value}: {why}, so the hash was cut short or lost its '=' padding when it was copied: copy it \
                 again from its source."
            ),
        );
    }
    (
        ProblemKind::HashNotBase64,
        format!(
            "{value} is not base64: {}; copy the hash again from its source.",
            validate::base64_problem(text, error)
        ),
    )
}

/// The decoded bytes as text when they are base64 text themselves (a hash encoded twice).
fn base64_text(bytes: &[u8]) -> Option<&str> {
    let alphabet = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_');
    if bytes.len() < 4 || !bytes.iter().all(alphabet) {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    validate::decode_binary(text).ok().filter(|inner| !inner.is_empty()).map(|_| text)
}

/// A value's bytes as text for a message: UTF-8 when they are, else Windows-1252.
fn display_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(bytes.iter().map(|b| windows_1252(*b)).collect()),
    }
}

/// A byte as Windows-1252 reads it (the five unassigned bytes as U+FFFD).
fn windows_1252(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{fffd}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{fffd}', 'Ž', '\u{fffd}',
        '\u{fffd}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{fffd}', 'ž', 'Ÿ',
    ];
    match byte {
        0x80..=0x9f => HIGH[usize::from(byte - 0x80)],
        _ => char::from(byte),
    }
}

/// A value as a message shows it: quoted, escaped, and cut in the middle when long
/// (`'T0EGBAEAHAAAAAoA…QUFBQQ==' (5464 characters)`).
fn shown(text: &str) -> String {
    const KEEP_START: usize = 16;
    const KEEP_END: usize = 8;
    let chars = text.chars().count();
    if chars <= KEEP_START + KEEP_END + 8 {
        return format!("'{}'", escape_for_terminal(text));
    }
    let start: String = text.chars().take(KEEP_START).collect();
    let end: String = text.chars().skip(chars - KEEP_END).collect();
    format!("'{}…{}' ({chars} characters)", escape_for_terminal(&start), escape_for_terminal(&end))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
