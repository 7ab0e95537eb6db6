//! Writes a result store full of made-up runs, to look at the dashboard without measuring
//! (the latest run with made-up timelines of db-wait, `fixture::record_traces`):
//!
//! ```text
//! cargo run -p web --example fixture_store -- /tmp/fixture.db
//! cargo run --release -- serve --db /tmp/fixture.db
//! ```

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fixture.db".to_string());
    let traced = wb_web::fixture::create(std::path::Path::new(&path)).and_then(|runs| {
        let mut store = wb_reports::store::Store::open(std::path::Path::new(&path))?;
        wb_web::fixture::record_traces(&mut store, runs.latest)?;
        Ok(runs)
    });
    match traced {
        Ok(runs) => println!("{path}: {runs:?}"),
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(1);
        }
    }
}
