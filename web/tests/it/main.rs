//! The dashboard's tests, in one binary (one link instead of one per file); each file is a
//! module (`cargo test -p wb-web --test it routes`), and what they share is in [`util`].

mod util;

mod lessons_story;
mod peers_lessons;
mod remote;
mod routes;
mod timelines;
