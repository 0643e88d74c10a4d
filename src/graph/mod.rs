//! Everything about talking to Microsoft Graph; knows nothing of terminals.

pub mod model;
pub mod patch;
pub mod validate;
