//! The interactive app, The Elm Architecture: events become actions, `update` changes the
//! model and asks for effects, effects report back as messages, views draw the model.

pub mod app;
pub mod bulk;
pub mod command;
pub mod copy;
pub mod draft_store;
pub mod drafts;
pub mod effects;
pub mod event;
pub mod exchange_text;
pub mod history;
pub mod import_task;
pub mod job_task;
pub mod keymap;
pub mod layout;
pub mod line_edit;
pub mod model;
pub mod path_complete;
pub mod remembered;
pub mod requests;
pub mod save_task;
pub mod table;
pub mod terminal;
pub mod update;
pub mod views;
pub mod wording;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod snapshot_tests;

pub use app::{AppOptions, Host, OsSignal, Session, TuiError, run, run_hosted, run_loop, run_loop_observed};
