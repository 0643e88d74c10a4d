//! The registered Autopilot device (`windowsAutopilotDeviceIdentity`): what admins change on a
//! live tenant, through `updateDeviceProperties` and a few actions (see `graph-registered.md`).

use crate::graph::resource::{
    ActionRequest, Cell, Column, Field, Guard, Kind, RecordAction, Resource, Role, Search, SearchOp, Tone,
    TypeNames, Version, WriteVerb, column,
};

/// `enrollmentState` values (v1.0's five, and beta's `blocked`).
pub const ENROLLMENT_STATES: &[&str] =
    &["unknown", "enrolled", "pendingReset", "failed", "notContacted", "blocked"];

/// `deploymentProfileAssignmentStatus` values (beta), with the service's own misspelling.
pub const PROFILE_ASSIGNMENT_STATUSES: &[&str] = &[
    "unknown",
    "assignedInSync",
    "assignedOutOfSync",
    "assignedUnkownSyncState",
    "notAssigned",
    "pending",
    "failed",
];

/// `deploymentProfileAssignmentDetailedStatus` values (beta).
pub const PROFILE_ASSIGNMENT_DETAILS: &[&str] = &[
    "none",
    "hardwareRequirementsNotMet",
    "surfaceHubProfileNotSupported",
    "holoLensProfileNotSupported",
    "windowsPcProfileNotSupported",
    "surfaceHub2SProfileNotSupported",
    "unknownFutureValue",
];

/// `remediationState` values (beta).
pub const REMEDIATION_STATES: &[&str] = &[
    "unknown",
    "noRemediationRequired",
    "automaticRemediationRequired",
    "manualRemediationRequired",
    "unknownFutureValue",
];

/// `userlessEnrollmentStatus` values (beta).
pub const USERLESS_ENROLLMENT_STATUSES: &[&str] = &["unknown", "allowed", "blocked", "unknownFutureValue"];

const fn shown(path: &'static str, label: &'static str, kind: Kind) -> Field {
    Field { path, label, kind, nullable: true, editable: false, max_len: None, version: Version::Both }
}

const fn editable(path: &'static str, label: &'static str, kind: Kind, max_len: usize) -> Field {
    Field { editable: true, max_len: Some(max_len), ..shown(path, label, kind) }
}

const fn beta(field: Field) -> Field {
    Field { version: Version::BetaOnly, ..field }
}

/// The fields, in the form's order: what the form edits first, then what it shows.
pub const FIELDS: &[Field] = &[
    Field { nullable: false, ..shown("id", "Id", Kind::Key) },
    shown("serialNumber", "Serial number", Kind::Text),
    editable("groupTag", "Group tag", Kind::Text, 512),
    editable("userPrincipalName", "User", Kind::Upn, 256),
    editable("addressableUserName", "User's name", Kind::Text, 256),
    // Windows names the device from this during setup: 15 characters, as the portal enforces.
    editable("displayName", "Display name", Kind::Text, 15),
    beta(editable("deviceAccountUpn", "Device account", Kind::Upn, 256)),
    beta(editable("deviceAccountPassword", "Account password", Kind::Secret, 256)),
    beta(editable("deviceFriendlyName", "Friendly name", Kind::Text, 256)),
    Field { nullable: false, ..shown("enrollmentState", "Enrollment state", Kind::Enum(ENROLLMENT_STATES)) },
    Field { nullable: false, ..shown("lastContactedDateTime", "Last contacted", Kind::DateTime) },
    shown("manufacturer", "Manufacturer", Kind::Text),
    shown("model", "Model", Kind::Text),
    shown("systemFamily", "System family", Kind::Text),
    shown("skuNumber", "SKU", Kind::Text),
    shown("productKey", "Product key", Kind::Text),
    shown("purchaseOrderIdentifier", "Purchase order", Kind::Text),
    shown("resourceName", "Resource name", Kind::Text),
    shown("managedDeviceId", "Intune device id", Kind::Text),
    shown("azureActiveDirectoryDeviceId", "Entra device id", Kind::Text),
    beta(shown("azureAdDeviceId", "Entra id (beta)", Kind::Text)),
    // The enums and dates below are not nullable in Graph's schema (plain `$ref`s in its OpenAPI).
    beta(Field {
        nullable: false,
        ..shown(
            "deploymentProfileAssignmentStatus",
            "Profile status",
            Kind::Enum(PROFILE_ASSIGNMENT_STATUSES),
        )
    }),
    beta(Field {
        nullable: false,
        ..shown(
            "deploymentProfileAssignmentDetailedStatus",
            "Profile detail",
            Kind::Enum(PROFILE_ASSIGNMENT_DETAILS),
        )
    }),
    beta(Field {
        nullable: false,
        ..shown("deploymentProfileAssignedDateTime", "Profile assigned", Kind::DateTime)
    }),
    beta(Field {
        nullable: false,
        ..shown("remediationState", "Remediation", Kind::Enum(REMEDIATION_STATES))
    }),
    beta(Field {
        nullable: false,
        ..shown("remediationStateLastModifiedDateTime", "Remediation at", Kind::DateTime)
    }),
    beta(Field {
        nullable: false,
        ..shown("userlessEnrollmentStatus", "Userless enroll", Kind::Enum(USERLESS_ENROLLMENT_STATUSES))
    }),
];

/// The table's columns.
pub const COLUMNS: &[Column] = &[
    column("SERIAL", 'S', "serial", Cell::Field("serialNumber"), (8, 12, 24), Role::Key, 0),
    Column {
        repeats: true,
        ..column("GROUP TAG", 'T', "tag", Cell::Field("groupTag"), (6, 10, 24), Role::Key, 2)
    },
    column("USER", 'U', "user", Cell::Field("userPrincipalName"), (8, 16, 34), Role::Key, 3),
    column("DISPLAY NAME", 'L', "name", Cell::Field("displayName"), (6, 10, 17), Role::Extra, 0),
    Column {
        tone: Tone::EnrollmentState,
        repeats: true,
        ..column("ENROLLMENT", 'E', "enrollment", Cell::Field("enrollmentState"), (8, 10, 14), Role::Key, 1)
    },
    column("CONTACTED", 'C', "last contact", Cell::Ago("lastContactedDateTime"), (8, 11, 12), Role::Extra, 1),
    Column {
        repeats: true,
        ..column(
            "MAKE / MODEL",
            'M',
            "model",
            Cell::Pair("manufacturer", "model"),
            (8, 16, 32),
            Role::Extra,
            2,
        )
    },
    Column {
        repeats: true,
        ..column(
            "PURCHASE ORDER",
            'O',
            "order",
            Cell::Field("purchaseOrderIdentifier"),
            (6, 10, 24),
            Role::Extra,
            3,
        )
    },
    Column {
        tone: Tone::ProfileAssignment,
        version: Version::BetaOnly,
        repeats: true,
        ..column(
            "PROFILE",
            'A',
            "profile",
            Cell::Field("deploymentProfileAssignmentStatus"),
            (6, 12, 23),
            Role::Extra,
            4,
        )
    },
    column("ID", 'D', "id", Cell::Field("id"), (8, 13, 36), Role::Whole, 5),
];

/// The `:` searches. The live service takes `contains(serialNumber,...)` and refuses `eq`.
pub const SEARCHES: &[Search] = &[Search {
    words: &["serial", "search", "s"],
    path: "serialNumber",
    op: SearchOp::Contains,
    help: "serial number contains TEXT",
}];

/// The permission every write to registered devices needs (Read.All lists and reads them).
pub const WRITE_PERMISSION: &str = "DeviceManagementServiceConfig.ReadWrite.All";

/// What `assignUserToDevice` takes: the user and the name Windows greets them with.
const ASSIGN_INPUTS: &[Field] = &[
    Field { nullable: false, ..editable("userPrincipalName", "User (UPN)", Kind::Upn, 256) },
    Field { nullable: false, ..editable("addressableUserName", "Name shown at setup", Kind::Text, 256) },
];

/// What can be done to one registered device besides editing it.
pub const ACTIONS: &[RecordAction] = &[
    RecordAction {
        key: 'a',
        name: "assign user",
        done: "User assigned to",
        help: "assign a user to the device (assignUserToDevice)",
        request: ActionRequest::Post("assignUserToDevice"),
        inputs: ASSIGN_INPUTS,
        guard: Guard::Confirm,
        permission: WRITE_PERMISSION,
    },
    RecordAction {
        key: 'u',
        name: "unassign user",
        done: "User unassigned from",
        help: "take the assigned user off the device (unassignUserFromDevice)",
        request: ActionRequest::Post("unassignUserFromDevice"),
        inputs: &[],
        guard: Guard::Confirm,
        permission: WRITE_PERMISSION,
    },
    RecordAction {
        key: 'd',
        name: "delete",
        done: "Deleted the registration of",
        help: "delete the Autopilot registration (type the serial; refused while enrolled in Intune)",
        request: ActionRequest::Delete,
        inputs: &[],
        guard: Guard::TypeSerial,
        permission: WRITE_PERMISSION,
    },
];

/// Registered devices: changed with `updateDeviceProperties` (204); PATCH fails live.
pub const REGISTERED: Resource = Resource {
    command: "devices",
    aliases: &["registered", "device", "dev"],
    title: "registered devices",
    entity: "windowsAutopilotDeviceIdentity",
    path: "/deviceManagement/windowsAutopilotDeviceIdentities",
    alternate_path: None,
    fields: FIELDS,
    columns: COLUMNS,
    write: WriteVerb::Action("updateDeviceProperties"),
    searches: SEARCHES,
    actions: ACTIONS,
    bulk: &["groupTag", "userPrincipalName", "addressableUserName"],
    per_record: &["displayName"],
};

/// Graph's names for the types of [`REGISTERED`] (`$metadata`, error messages).
pub const TYPE_NAMES: TypeNames = TypeNames {
    complex: &[],
    enums: &[
        ("enrollmentState", "enrollmentState"),
        ("deploymentProfileAssignmentStatus", "windowsAutopilotProfileAssignmentStatus"),
        ("deploymentProfileAssignmentDetailedStatus", "windowsAutopilotProfileAssignmentDetailedStatus"),
        ("remediationState", "windowsAutopilotDeviceRemediationState"),
        ("userlessEnrollmentStatus", "windowsAutopilotUserlessEnrollmentStatus"),
    ],
};

/// The Autopilot account settings (beta only): when the service last synced, and the manual sync.
pub const SETTINGS_PATH: &str = "/deviceManagement/windowsAutopilotSettings";

/// `syncStatus` values of the settings.
pub const SYNC_STATUSES: &[&str] = &["unknown", "inProgress", "completed", "failed"];

/// The fields of `windowsAutopilotSettings` (read-only; changed by the `sync` action). The whole
/// resource is beta only.
pub const SETTINGS_FIELDS: &[Field] = &[
    Field { nullable: false, ..shown("id", "Id", Kind::Key) },
    Field { nullable: false, ..shown("lastSyncDateTime", "Last sync", Kind::DateTime) },
    Field { nullable: false, ..shown("lastManualSyncTriggerDateTime", "Last manual sync", Kind::DateTime) },
    Field { nullable: false, ..shown("syncStatus", "Sync status", Kind::Enum(SYNC_STATUSES)) },
];

/// Graph's names for the types of the settings.
pub const SETTINGS_TYPE_NAMES: TypeNames =
    TypeNames { complex: &[], enums: &[("syncStatus", "windowsAutopilotSyncStatus")] };
