//! The table of one resource: its rows (built from the descriptor's columns), the index that
//! filters and sorts them, and how its columns share the terminal's width.

pub mod columns;
pub mod index;
pub mod rows;
