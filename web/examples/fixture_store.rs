//! Writes a result store full of made-up runs, to look at the dashboard without measuring:
//!
//! ```text
//! cargo run -p web --example fixture_store -- /tmp/fixture.db
//! cargo run --release -- serve --db /tmp/fixture.db
//! ```

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fixture.db".to_string());
    match wb_web::fixture::create(std::path::Path::new(&path)) {
        Ok(runs) => println!("{path}: {runs:?}"),
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(1);
        }
    }
}
