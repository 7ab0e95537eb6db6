//! The runner (being written by the lead).
