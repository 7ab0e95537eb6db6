//! The error numbers the workspace names outside the engines — the load generator's
//! diagnosis of a failed connect — so that no other crate depends on `libc` for a constant.
//! Compare them with [`std::io::Error::raw_os_error`].

pub use libc::{EADDRNOTAVAIL, ECONNREFUSED, EMFILE, ENFILE};
