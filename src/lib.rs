//! autopilot-tui: browse, edit, import and bulk-change Windows Autopilot records through Microsoft Graph.

pub mod apply;
pub mod cli;
pub mod config;
pub mod connect;
pub mod export;
pub mod graph;
pub mod jobs;
pub mod paths;
pub mod server;
pub mod terminal_text;
pub mod tui;
pub mod write_log;
