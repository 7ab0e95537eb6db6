//! The operating-system pieces the binary needs, kept once in the `sys` crate (the engines'
//! contract) and re-exported here for the commands and examples that raise the open-files
//! limit or block the stop signals.

pub use wb_sys::rlimit::raise_open_files_limit;
pub use wb_sys::signals::block_stop_signals;
