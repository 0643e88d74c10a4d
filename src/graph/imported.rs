//! The imported Autopilot device identity (`importedWindowsAutopilotDeviceIdentity`): the import
//! queue. Its descriptor; the typed model the embedded server keeps is in `model.rs`.

use crate::graph::resource::{
    ActionRequest, Cell, Column, Field, Guard, Kind, RecordAction, Resource, Role, Search, SearchOp, SortBy,
    Tone, TypeNames, Version, WriteVerb, column,
};

/// `deviceImportStatus` values, exactly as Graph spells them.
pub const IMPORT_STATUSES: &[&str] = &["unknown", "pending", "partial", "complete", "error"];

const fn field(path: &'static str, label: &'static str, kind: Kind, max_len: Option<usize>) -> Field {
    Field { path, label, kind, nullable: true, editable: true, max_len, version: Version::Both }
}

/// The fields, in the form's order.
pub const FIELDS: &[Field] = &[
    Field { nullable: false, editable: false, ..field("id", "Id", Kind::Key, None) },
    field("assignedUserPrincipalName", "Assigned user", Kind::Upn, Some(256)),
    field("groupTag", "Group tag", Kind::Text, Some(512)),
    // About 4096 bytes is some 5,500 base64 characters; 16,384 leaves room for larger hashes.
    field("hardwareIdentifier", "Hardware hash", Kind::Binary, Some(16_384)),
    field("importId", "Import id", Kind::Text, Some(256)),
    field("productKey", "Product key", Kind::Text, Some(256)),
    field("serialNumber", "Serial number", Kind::Text, Some(256)),
    Field {
        nullable: false,
        ..field("state/deviceImportStatus", "Import status", Kind::Enum(IMPORT_STATUSES), None)
    },
    field("state/deviceRegistrationId", "Registration id", Kind::Text, Some(256)),
    Field { nullable: false, ..field("state/deviceErrorCode", "Error code", Kind::Int32, None) },
    field("state/deviceErrorName", "Error name", Kind::Text, Some(256)),
];

/// The table's columns.
pub const COLUMNS: &[Column] = &[
    column("SERIAL", 'S', "serial", Cell::Field("serialNumber"), (8, 12, 24), Role::Key, 0),
    Column {
        repeats: true,
        ..column("GROUP TAG", 'T', "tag", Cell::Field("groupTag"), (6, 10, 24), Role::Key, 2)
    },
    column("ASSIGNED USER", 'U', "user", Cell::Field("assignedUserPrincipalName"), (8, 16, 34), Role::Key, 3),
    // Capped so a long error name cannot starve the user and tag columns; the cut name keeps
    // its code (`error 808 ZtdDeviceAssignedTo…`) and the form shows it whole.
    Column {
        tone: Tone::ImportStatus,
        sort: SortBy::ImportStatus,
        repeats: true,
        grows: true,
        ..column("IMPORT STATUS", 'I', "status", Cell::ImportStatus, (8, 16, 30), Role::Key, 1)
    },
    Column {
        repeats: true,
        ..column("IMPORT ID", 'B', "import id", Cell::Field("importId"), (6, 10, 38), Role::Whole, 1)
    },
    column("PRODUCT KEY", 'P', "key", Cell::Field("productKey"), (6, 10, 29), Role::Whole, 2),
    column("ID", 'D', "id", Cell::Field("id"), (8, 13, 36), Role::Whole, 0),
];

/// The `:` searches the live service accepts on this collection.
pub const SEARCHES: &[Search] = &[
    Search {
        words: &["serial", "search", "s"],
        path: "serialNumber",
        op: SearchOp::Contains,
        help: "serial number contains TEXT",
    },
    Search {
        words: &["tag", "grouptag"],
        path: "groupTag",
        op: SearchOp::Contains,
        help: "group tag contains TEXT",
    },
    Search {
        words: &["user", "upn"],
        path: "assignedUserPrincipalName",
        op: SearchOp::Contains,
        help: "assigned user contains TEXT",
    },
    Search {
        words: &["status"],
        path: "state/deviceImportStatus",
        op: SearchOp::EqualsValue(IMPORT_STATUSES),
        help: "import status is STATUS",
    },
];

/// What can be done to one imported identity besides editing it: deleting it (the queue is
/// emptied once a device registered; a failed import is deleted before it is tried again).
pub const ACTIONS: &[RecordAction] = &[RecordAction {
    key: 'd',
    name: "delete",
    done: "Deleted the import record of",
    help: "delete the import record (type the serial); a registered device stays",
    request: ActionRequest::Delete,
    inputs: &[],
    guard: Guard::TypeSerial,
    permission: "DeviceManagementServiceConfig.ReadWrite.All",
}];

/// Imported identities: the import queue (`PATCH` as Graph's update page documents it; the
/// live service refuses it).
pub const IMPORTED: Resource = Resource {
    command: "imported",
    aliases: &["imports", "queue"],
    title: "imported identities",
    entity: "importedWindowsAutopilotDeviceIdentity",
    path: "/deviceManagement/importedWindowsAutopilotDeviceIdentities",
    alternate_path: Some(("upload", "/importedWindowsAutopilotDeviceIdentityUpload/deviceIdentities")),
    fields: FIELDS,
    columns: COLUMNS,
    write: WriteVerb::Patch,
    searches: SEARCHES,
    actions: ACTIONS,
    bulk: &["groupTag", "assignedUserPrincipalName"],
    per_record: &[],
};

/// Graph's names for the types of [`IMPORTED`] (`$metadata`, error messages).
pub const TYPE_NAMES: TypeNames = TypeNames {
    complex: &[("state", "importedWindowsAutopilotDeviceIdentityState")],
    enums: &[("state/deviceImportStatus", "importedWindowsAutopilotDeviceIdentityImportStatus")],
};
