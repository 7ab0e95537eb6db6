//! Results that last: the SQLite store (and, later, charts and reports).

pub mod store;
