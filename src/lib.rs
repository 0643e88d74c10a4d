//! autopilot-tui: browse and edit Windows Autopilot imported device identities through Microsoft Graph.

pub mod cli;
pub mod config;
pub mod connect;
pub mod export;
pub mod graph;
pub mod paths;
pub mod server;
pub mod terminal_text;
pub mod tui;
