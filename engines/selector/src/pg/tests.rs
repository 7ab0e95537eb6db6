//! Against a real PostgreSQL (filled in below).
