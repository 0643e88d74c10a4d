//! Everything about talking to Microsoft Graph; knows nothing of terminals.

pub mod auth;
pub mod client;
pub mod error;
pub mod model;
pub mod patch;
pub mod retry;
pub mod validate;
