//! The store's, the charts' and the reports' tests, in one binary (one link instead of
//! three); each file is a module (`cargo test -p wb-reports --test it store`).

mod charts;
mod report;
mod store;
