//! Reports: a stored run as a document to share — one self-contained HTML file, or Markdown
//! with its SVG charts in a folder beside it — so that others can read, check and repeat it.
//!
//! A benchmark is worth what others can check, so a report carries everything needed to
//! judge its figures, in this order:
//!
//! 1. **A banner**, first, when the run was interrupted, failed or is still running (or some
//!    of its steps failed): what happened, how many of the planned steps finished, which
//!    were never measured. The rest of the report shows what finished.
//! 2. **The summary**: a table of one headline figure per engine and workload — bytes per
//!    idle connection, best throughput, waits overlapped, cores used… ([`headlines`]); each
//!    claim of the concurrency debate with its verdict, from the one judge
//!    ([`crate::claims`]); and each headline figure with what the engine's model predicts of
//!    it. The headlines give no verdict; the claims do, and a verdict is never a guess: a
//!    workload the run does not have says "no data" and the command that would get it, and
//!    a missing key engine, levels that cannot show the effect or 95 % intervals that overlap
//!    the threshold say "inconclusive" and why.
//! 3. **Each workload**: what it shows, its charts (from [`crate::charts`], the same module the
//!    dashboard draws with), and a table of every step with its flags spelled out.
//! 4. **The comparison**, when other runs are given: every figure of every step beside the
//!    same figure of the other runs, with its change.
//! 5. **The method**: how memory, CPU and latency were measured and why that way (PSS over
//!    the process tree, kernel memory apart, cores as CPU time over wall time, closed and
//!    open loop, the sampler, calibration, pinning).
//! 6. **Machine and configuration**: CPU, cores, memory, kernel, open-files limit, compiler
//!    and git revision; the engines with their flags, the workloads with their levels.
//!
//! ```no_run
//! use wb_reports::report::{self, Format};
//! use wb_reports::store::{RunId, Store};
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Store::open("workbench.db")?;
//! let run = store.run(RunId(12))?.expect("run 12 exists");
//! let before = store.run(RunId(11))?.expect("run 11 exists");
//! let page: String = report::html(&run, &[before.clone()]); // one file, nothing to fetch
//! let md = report::markdown(&run, &[], "report-12_files"); // text + chart files
//! report::write(&run, &[before], Format::Markdown, "report-12.md".as_ref())?;
//! # Ok(()) }
//! ```
//!
//! # Implementation
//!
//! What a report says is decided once: `build` turns the runs into a small document tree
//! (sections, paragraphs, lists, tables, charts), and two renderers walk it, one writing
//! HTML and one Markdown. So the formats cannot drift apart, and a third format is a third
//! renderer. Text is escaped by each renderer for its own format; figures carry their
//! units and about three significant figures. Nothing reads the clock, so the same runs
//! always give the same bytes.

mod build;
pub mod compare;
mod doc;
use crate::format;
pub mod headlines;
mod html;
mod markdown;
mod method;
mod steps;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use format::Better;

use crate::store::StoredRun;

/// The report of `run` as one self-contained HTML document: CSS and SVG charts inline, no
/// script, no external request; it reads the same offline and in print. With `compare`,
/// every figure is shown beside the same figure of those runs, with its change.
pub fn html(run: &StoredRun, compare: &[StoredRun]) -> String {
    html::render(&build::document(run, compare))
}

/// The report of `run` as Markdown, and its charts as SVG files to write under `files_dir`,
/// a folder relative to the Markdown file (`report-12_files`; see [`files_dir_for`]). The
/// text links each chart by that relative path.
pub fn markdown(run: &StoredRun, compare: &[StoredRun], files_dir: &str) -> Markdown {
    markdown::render(&build::document(run, compare), files_dir)
}

/// A Markdown report: the text and the chart files it links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markdown {
    /// The Markdown text.
    pub text: String,
    /// The charts, each at the path the text links it by.
    pub files: Vec<ChartFile>,
}

/// One chart of a Markdown report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartFile {
    /// Where it goes, relative to the Markdown file's folder, `/`-separated:
    /// `report-12_files/hello-throughput.svg`.
    pub path: String,
    /// The SVG document.
    pub svg: String,
}

impl Markdown {
    /// Writes the text to `md_path` and each chart to its path relative to `md_path`'s
    /// folder, creating folders as needed. Returns every file written, the Markdown first.
    pub fn write(&self, md_path: &Path) -> io::Result<Vec<PathBuf>> {
        let folder = md_path.parent().unwrap_or(Path::new(""));
        let mut written = vec![md_path.to_path_buf()];
        for file in &self.files {
            let path = folder.join(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, &file.svg)?;
            written.push(path);
        }
        std::fs::write(md_path, &self.text)?;
        Ok(written)
    }
}

impl Markdown {
    /// The report as one uncompressed tar archive, for a download: the text as `md_name`
    /// and each chart at its path, every file dated `mtime` (unix seconds). `tar -xf` gives
    /// the same files [`Markdown::write`] would.
    pub fn to_tar(&self, md_name: &str, mtime: u64) -> Vec<u8> {
        let mut archive = tar::Builder::new(Vec::new());
        let files = std::iter::once((md_name, self.text.as_bytes())).chain(
            self.files
                .iter()
                .map(|f| (f.path.as_str(), f.svg.as_bytes())),
        );
        for (path, contents) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(contents.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(mtime);
            header.set_entry_type(tar::EntryType::Regular);
            // Writing into a Vec cannot fail, and the paths are ours (relative, no `..`); a
            // name too long for the header gets a GNU long-name entry, never truncated.
            archive
                .append_data(&mut header, path, contents)
                .expect("an in-memory tar archive accepts a relative path");
        }
        archive
            .into_inner()
            .expect("finishing an in-memory tar archive cannot fail")
    }
}

/// The Markdown report of `run` as a tar archive to download: `report-<id>.md` and its
/// charts in `report-<id>_files/`, dated when the run ended. Returns the archive's file
/// name (`report-<id>.tar`) and its bytes.
pub fn markdown_archive(run: &StoredRun, compare: &[StoredRun]) -> (String, Vec<u8>) {
    let stem = format!("report-{}", run.summary.id);
    let md = markdown(run, compare, &format!("{stem}_files"));
    let mtime = run
        .summary
        .finished_at
        .unwrap_or(run.summary.started_at)
        .max(0) as u64;
    (
        format!("{stem}.tar"),
        md.to_tar(&format!("{stem}.md"), mtime),
    )
}

/// The chart folder for a Markdown report at `md_path`: `<stem>_files`, as browsers name the
/// folder of a saved page. `report-12.md` → `report-12_files`.
pub fn files_dir_for(md_path: &Path) -> String {
    let stem = md_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "report".into());
    format!("{stem}_files")
}

/// A report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// One self-contained HTML file.
    #[default]
    Html,
    /// Markdown, with the charts as SVG files in a folder beside it.
    Markdown,
}

impl Format {
    /// The file extension, without the dot: `html` or `md`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Markdown => "md",
        }
    }

    /// The format a file name asks for by its extension (`.md`, `.markdown`, `.html`,
    /// `.htm`), if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
        match ext.as_str() {
            "md" | "markdown" => Some(Format::Markdown),
            "html" | "htm" => Some(Format::Html),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

impl FromStr for Format {
    type Err = String;

    /// Parses `html` or `md` (also `markdown`).
    fn from_str(text: &str) -> Result<Format, String> {
        match text.to_ascii_lowercase().as_str() {
            "html" => Ok(Format::Html),
            "md" | "markdown" => Ok(Format::Markdown),
            other => Err(format!("unknown report format {other:?}; use html or md")),
        }
    }
}

/// Renders the report of `run` (compared with `compare`) in `format` and writes it to `out`
/// — for Markdown, with its charts in [`files_dir_for`]`(out)` beside it. Returns every file
/// written, the report first.
pub fn write(
    run: &StoredRun,
    compare: &[StoredRun],
    format: Format,
    out: &Path,
) -> io::Result<Vec<PathBuf>> {
    match format {
        Format::Html => {
            std::fs::write(out, html(run, compare))?;
            Ok(vec![out.to_path_buf()])
        }
        Format::Markdown => markdown(run, compare, &files_dir_for(out)).write(out),
    }
}
