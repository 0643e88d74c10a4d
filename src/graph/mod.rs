//! Everything about talking to Microsoft Graph; knows nothing of terminals.

pub mod auth;
pub mod client;
pub mod error;
pub mod imported;
pub mod model;
pub mod patch;
pub mod registered;
pub mod resource;
pub mod retry;
pub mod timestamp;
pub mod validate;
