//! Everything about talking to Microsoft Graph; knows nothing of terminals.

pub mod auth;
pub mod batch;
pub mod client;
pub mod conflict;
pub mod csv;
pub mod error;
pub mod import_errors;
pub mod imported;
pub mod model;
pub mod pacer;
pub mod patch;
pub mod record;
pub mod registered;
pub mod resource;
pub mod retry;
pub mod timestamp;
pub mod validate;

/// Every kind of record the app knows, in the order `:` lists them.
pub fn resources() -> [&'static resource::Resource; 2] {
    [&registered::REGISTERED, &imported::IMPORTED]
}

/// The resource a `:` command names (`devices`, `imported`).
pub fn resource_by_command(command: &str) -> Option<&'static resource::Resource> {
    resources().into_iter().find(|r| r.command == command)
}
