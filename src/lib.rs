//! autopilot-tui: browse and edit Windows Autopilot imported device identities through Microsoft Graph.

pub mod graph;
pub mod tui;
