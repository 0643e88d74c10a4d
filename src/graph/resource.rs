//! A kind of record, described once as data: where it lives in Graph, its fields (how each is
//! labelled, typed, checked and edited), the table's columns, the server searches it allows, and
//! how a change is written. Every layer (the client, the table, the filter, the form, the help,
//! validation, the write body, `list`, the embedded server's schema checks) reads this
//! description instead of knowing the entity; adding a property is one line of a field table.

use serde_json::{Map, Value};
use std::borrow::Cow;

/// A record as Graph sends it: a JSON object, unknown properties kept as they came.
pub type Record = Map<String, Value>;

/// What kind of value a field holds: decides the editor, the validation and the JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The read-only entity key.
    Key,
    /// Free text.
    Text,
    /// A user principal name (`name@domain.tld`).
    Upn,
    /// `Edm.Binary`: base64 (standard or url-safe alphabet) on the wire.
    Binary,
    /// One of a fixed set of values, spelled exactly as Graph spells them (misspellings too).
    Enum(&'static [&'static str]),
    /// A non-nullable int32.
    Int32,
    /// `Edm.DateTimeOffset` (`2026-11-28T10:00:00Z`).
    DateTime,
    /// A secret typed blind, never shown, logged or kept on disk (`deviceAccountPassword`).
    Secret,
}

/// Where a field is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// On `/v1.0` and `/beta`.
    Both,
    /// Only on `/beta`.
    BetaOnly,
}

/// One field of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The OData property path: `groupTag`, `state/deviceErrorCode`.
    pub path: &'static str,
    /// Human label for the form, the help and messages.
    pub label: &'static str,
    /// Value kind.
    pub kind: Kind,
    /// Whether JSON `null` is allowed (an empty editor means `null`).
    pub nullable: bool,
    /// Whether the user may change it (through the resource's write verb).
    pub editable: bool,
    /// The longest value Graph takes, in characters (the form counts down to it).
    pub max_len: Option<usize>,
    /// Where the field exists.
    pub version: Version,
}

impl Field {
    /// The property name on the wire (the last path segment).
    pub fn name(&self) -> &'static str {
        self.path.rsplit('/').next().unwrap_or(self.path)
    }

    /// The complex property holding this field (`state` of `state/deviceErrorCode`), if any.
    pub fn parent(&self) -> Option<&'static str> {
        self.path.split_once('/').map(|(parent, _)| parent)
    }

    /// This field's JSON value in a record (`None` when absent).
    pub fn get<'a>(&self, record: &'a Record) -> Option<&'a Value> {
        match self.parent() {
            Some(parent) => record.get(parent)?.as_object()?.get(self.name()),
            None => record.get(self.path),
        }
    }

    /// This field's string value, when it is one.
    pub fn text<'a>(&self, record: &'a Record) -> Option<&'a str> {
        self.get(record).and_then(Value::as_str)
    }

    /// Sets this field in a record (the parent object is made when missing).
    pub fn set(&self, record: &mut Record, value: Value) {
        match self.parent() {
            Some(parent) => {
                let entry = record.entry(parent.to_string()).or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                if let Some(object) = entry.as_object_mut() {
                    object.insert(self.name().to_string(), value);
                }
            }
            None => {
                record.insert(self.path.to_string(), value);
            }
        }
    }

    /// The value as the form shows it: `null` is empty, numbers and enum values as written; a
    /// missing value is empty, or Graph's default for a field that cannot be null (`0`, the
    /// enum's first value).
    pub fn display<'a>(&self, record: &'a Record) -> Cow<'a, str> {
        match (self.get(record), self.kind) {
            (None, Kind::Int32) if !self.nullable => Cow::Borrowed("0"),
            (None, Kind::Enum(values)) if !self.nullable => {
                Cow::Borrowed(values.first().copied().unwrap_or(""))
            }
            (None | Some(Value::Null), _) => Cow::Borrowed(""),
            (Some(Value::String(s)), _) => Cow::Borrowed(s),
            (Some(other), _) => Cow::Owned(other.to_string()),
        }
    }
}

/// How the table makes a column's text from a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// A field's text.
    Field(&'static str),
    /// The import status with its error: `complete`, `error 806 ZtdDeviceAlreadyAssigned`.
    ImportStatus,
    /// A timestamp field, shown as the time since then (`3 d ago`), sorted by the time itself.
    Ago(&'static str),
    /// Two fields joined by a space (`manufacturer model`).
    Pair(&'static str, &'static str),
}

/// How a column's text is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Plain.
    Plain,
    /// By import status (`error` red, `complete` green, ...).
    ImportStatus,
    /// By enrollment state (`enrolled` green, `failed` red, ...).
    EnrollmentState,
    /// By profile assignment (`assignedInSync` green, `failed` red, ...).
    ProfileAssignment,
}

/// How the table orders rows by a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// By the text, without case; empty last.
    Text,
    /// Failed imports first, then partial, pending, unknown, complete; then by error code.
    ImportStatus,
}

/// How important a column is when the terminal is narrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Always shown, shrunk before anything else is cut (serial, status, tag, user).
    Key,
    /// Shown whole (an id cut short is of no use) while room is left, in column order.
    Whole,
    /// Shown while room is left, cut if need be.
    Extra,
}

/// A table column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Heading.
    pub title: &'static str,
    /// The key that sorts by it (upper case, as `S` sorts by serial).
    pub sort_key: char,
    /// The column in a word, for the help (`serial`).
    pub word: &'static str,
    /// Where its text comes from.
    pub cell: Cell,
    /// How its text is coloured.
    pub tone: Tone,
    /// How rows are ordered by it.
    pub sort: SortBy,
    /// Narrowest it gets, the width it is comfortable at, and the widest it gets (a value
    /// longer than that is cut with `…`).
    pub width: (usize, usize, usize),
    /// When it gives way.
    pub role: Role,
    /// Its importance (0 first) among the key columns (the last to shrink), or among the
    /// others (the first to join when there is room).
    pub rank: u8,
    /// It may pass its cap when room is left (a long error name).
    pub grows: bool,
    /// Where it exists.
    pub version: Version,
    /// Many rows share each value (a team's tag, a batch's import id, a status): the table
    /// keeps each value once.
    pub repeats: bool,
}

/// A plain column: text, sorted as text, uncoloured, fixed cap, in both versions, no shared
/// values (descriptors change what differs with `..column(...)`).
pub const fn column(
    title: &'static str,
    sort_key: char,
    word: &'static str,
    cell: Cell,
    width: (usize, usize, usize),
    role: Role,
    rank: u8,
) -> Column {
    Column {
        title,
        sort_key,
        word,
        cell,
        tone: Tone::Plain,
        sort: SortBy::Text,
        width,
        role,
        rank,
        grows: false,
        version: Version::Both,
        repeats: false,
    }
}

impl Column {
    /// The fields the column reads (for `$select`).
    pub fn fields(&self) -> Vec<&'static str> {
        match self.cell {
            Cell::Field(path) | Cell::Ago(path) => vec![path],
            Cell::ImportStatus => vec!["state"],
            Cell::Pair(a, b) => vec![a, b],
        }
    }
}

/// How a change to one record is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteVerb {
    /// `PATCH` the record with the changed properties (a changed complex value goes whole).
    Patch,
    /// `POST` the changed properties to a bound action of the record
    /// (`.../{id}/updateDeviceProperties`); the answer is a 204 without a body.
    Action(&'static str),
}

/// A server-side search of the `:` command line: `:serial PF3` -> `contains(serialNumber,'PF3')`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Search {
    /// The command words (`serial`, `s`).
    pub words: &'static [&'static str],
    /// The property searched.
    pub path: &'static str,
    /// How: `contains(path, 'text')`, or `path eq 'value'` for one of `Kind::Enum`'s values.
    pub op: SearchOp,
    /// For the help: what it finds.
    pub help: &'static str,
}

/// The OData function a server search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchOp {
    /// `contains(path,'text')`: what the live Autopilot collections accept.
    Contains,
    /// `path eq 'value'` for an enum value.
    EqualsValue(&'static [&'static str]),
}

/// How an action on one record is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionRequest {
    /// `POST` to a bound action of the record (`.../{id}/assignUserToDevice`); its inputs are
    /// the body (none: no body).
    Post(&'static str),
    /// `DELETE` the record.
    Delete,
}

/// What the user does before an action is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Answer y to a question naming the record.
    Confirm,
    /// Type the record's serial number (a delete cannot be taken back).
    TypeSerial,
}

/// Something done to one record besides editing its fields: a key in the table, a dialog,
/// one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordAction {
    /// The table key (lower case).
    pub key: char,
    /// What it is called (`assign user`).
    pub name: &'static str,
    /// What is said when it worked, before the record's serial (`User assigned to`).
    pub done: &'static str,
    /// For the help: what it does, in a line.
    pub help: &'static str,
    /// The request it sends.
    pub request: ActionRequest,
    /// What is typed before it is sent, checked like form fields; the body's properties.
    pub inputs: &'static [Field],
    /// What the user does to confirm it.
    pub guard: Guard,
    /// The Graph permission it needs (for the help and the README).
    pub permission: &'static str,
}

/// One kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// The `:` command that shows it (`imported`, `devices`).
    pub command: &'static str,
    /// Other `:` words for it (`registered`).
    pub aliases: &'static [&'static str],
    /// What the header calls it (`imported identities`).
    pub title: &'static str,
    /// The Graph entity type (`importedWindowsAutopilotDeviceIdentity`).
    pub entity: &'static str,
    /// Its collection below the version root.
    pub path: &'static str,
    /// Another path to the same records, with its name (`upload`), if Graph has one.
    pub alternate_path: Option<(&'static str, &'static str)>,
    /// The fields, in the form's order; the first is the key.
    pub fields: &'static [Field],
    /// The table's columns, in display order.
    pub columns: &'static [Column],
    /// How a change is written.
    pub write: WriteVerb,
    /// The server searches of the `:` command line.
    pub searches: &'static [Search],
    /// What can be done to one record besides editing it.
    pub actions: &'static [RecordAction],
    /// The fields that make sense set to one value on many records at once (bulk edit,
    /// `apply`): a group tag, yes; a display name, no.
    pub bulk: &'static [&'static str],
    /// Fields a bulk change sets one record at a time, never one value on many (a display
    /// name): `apply` takes them as columns, since each of its rows is one record.
    pub per_record: &'static [&'static str],
}

impl WriteVerb {
    /// The write in words, as the write log keeps it: `PATCH`, `POST updateDeviceProperties`.
    pub fn describe(self) -> String {
        match self {
            WriteVerb::Patch => "PATCH".to_string(),
            WriteVerb::Action(action) => format!("POST {action}"),
        }
    }
}

impl Resource {
    /// The collection's name: the last segment of its path (`windowsAutopilotDeviceIdentities`).
    pub fn collection_name(&self) -> &'static str {
        self.path.rsplit('/').next().unwrap_or(self.path)
    }

    /// Whether a path segment names this collection, by its path or its other path.
    pub fn is_collection(&self, segment: &str) -> bool {
        self.collection_name() == segment
            || self.alternate_path.is_some_and(|(_, p)| p.rsplit('/').next() == Some(segment))
    }

    /// A field by its OData path.
    pub fn field(&self, path: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.path == path)
    }

    /// The fields `apply` takes as columns: the bulk fields and the per-record ones, in form
    /// order (never a secret).
    pub fn apply_fields(&self) -> impl Iterator<Item = &'static Field> + use<> {
        let (bulk, per_record) = (self.bulk, self.per_record);
        self.fields.iter().filter(move |f| {
            f.editable && f.kind != Kind::Secret && (bulk.contains(&f.path) || per_record.contains(&f.path))
        })
    }

    /// The fields a bulk edit offers, in form order.
    pub fn bulk_fields(&self) -> impl Iterator<Item = &'static Field> + use<> {
        let bulk = self.bulk;
        self.fields.iter().filter(move |f| f.editable && bulk.contains(&f.path))
    }

    /// The action a table key starts, if the resource has one.
    pub fn action(&self, key: char) -> Option<&'static RecordAction> {
        self.actions.iter().find(|a| a.key == key)
    }

    /// Whether a `:` word names this resource.
    pub fn is_named(&self, word: &str) -> bool {
        self.command.eq_ignore_ascii_case(word) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(word))
    }

    /// The top-level properties typed blind and never shown or recorded (`deviceAccountPassword`).
    pub fn secret_paths(&self) -> Vec<&'static str> {
        self.fields.iter().filter(|f| f.kind == Kind::Secret).map(|f| f.path).collect()
    }

    /// The fields the user may change, in form order.
    pub fn editable(&self) -> impl Iterator<Item = &'static Field> + use<> {
        self.fields.iter().filter(|f| f.editable)
    }

    /// The fields available at a Graph version root (`beta` or not).
    pub fn fields_at(&self, beta: bool) -> impl Iterator<Item = &'static Field> + use<> {
        self.fields.iter().filter(move |f| beta || f.version == Version::Both)
    }

    /// The columns available at a Graph version root.
    pub fn columns_at(&self, beta: bool) -> impl Iterator<Item = &'static Column> + use<> {
        self.columns.iter().filter(move |c| beta || c.version == Version::Both)
    }

    /// The `$select` of the table: the key and every property a column reads.
    pub fn table_select(&self, beta: bool) -> Vec<String> {
        let mut select = vec![self.fields[0].path.to_string()];
        for column in self.columns_at(beta) {
            for path in column.fields() {
                let top = path.split('/').next().unwrap_or(path).to_string();
                if !select.contains(&top) {
                    select.push(top);
                }
            }
        }
        select
    }

    /// A record's key.
    pub fn id<'a>(&self, record: &'a Record) -> Option<&'a str> {
        self.fields[0].text(record)
    }
}

/// Whether a Graph root is the beta version (`.../beta`), where more fields exist.
pub fn is_beta(base_url: &str) -> bool {
    base_url.trim_end_matches('/').ends_with("/beta")
}

/// The names Graph's schema gives a resource's own types, beside its field table: what `$metadata`
/// declares and what Graph's error messages name (`... to the expected type 'microsoft.graph.enrollmentState'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeNames {
    /// Complex properties and their type, without namespace (`state` ->
    /// `importedWindowsAutopilotDeviceIdentityState`).
    pub complex: &'static [(&'static str, &'static str)],
    /// Enum-valued fields (by path) and their enum type, without namespace (`enrollmentState` ->
    /// `enrollmentState`).
    pub enums: &'static [(&'static str, &'static str)],
}

impl TypeNames {
    /// The type of the complex property `name`, if it is one.
    pub fn complex_type(&self, name: &str) -> Option<&'static str> {
        self.complex.iter().find(|(property, _)| *property == name).map(|(_, type_name)| *type_name)
    }

    /// The enum type of the field at `path`, if it has one.
    pub fn enum_type(&self, path: &str) -> Option<&'static str> {
        self.enums.iter().find(|(field, _)| *field == path).map(|(_, type_name)| *type_name)
    }
}
