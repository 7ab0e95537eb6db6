//! Thread per connection (stub: to be written).

/// Engine configuration, filled from `workbench engine pool` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {}

/// Serves `listener` until SIGINT or SIGTERM.
pub fn serve(listener: std::net::TcpListener, config: &Config) -> std::io::Result<()> {
    let _ = (listener, config);
    unimplemented!()
}
