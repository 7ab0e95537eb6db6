//! The result store (to be written).
