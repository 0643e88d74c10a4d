//! Bulk work: a plan of changes decided before anything is sent, run at the pace Intune allows,
//! journalled so a job cut off can be resumed without writing anything twice. The TUI's bulk
//! edit, `apply` and `import` share it.

pub mod import;
pub mod journal;
pub mod outcome;
pub mod plan;
pub mod results;
pub mod runner;
