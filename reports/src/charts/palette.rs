//! One colour per engine, the same on every chart, legend and page.
//!
//! The four models have fixed colours, and their variants take a related shade of their
//! model's colour, so `selector-offload` reads as "a kind of selector" at a glance. Peers
//! (servers this project did not write) have fixed colours when the design names them, and
//! any other label gets one from a small palette chosen by a hash of the label: stable across
//! pages and runs, with no registry to keep in sync.

use plotters::style::RGBColor;

/// The built-in engines in the order charts, legends and tables list them.
pub const ENGINE_ORDER: [&str; 7] = [
    "threads",
    "pool",
    "selector",
    "selector-offload",
    "coroutines",
    "coroutines-current",
    "coroutines-offload",
];

/// The built-in engines' colours: blue, vermillion, green and purple for the four models
/// (distinguishable with the common colour-vision deficiencies), lighter or deeper shades
/// for the variants.
pub(crate) const ENGINE_COLORS: [(&str, RGBColor); 7] = [
    ("threads", RGBColor(0x1f, 0x5f, 0xa8)),
    ("pool", RGBColor(0xd5, 0x5e, 0x00)),
    ("selector", RGBColor(0x1b, 0x78, 0x37)),
    ("selector-offload", RGBColor(0x6a, 0xb0, 0x4c)),
    ("coroutines", RGBColor(0x76, 0x2a, 0x83)),
    ("coroutines-current", RGBColor(0xa3, 0x7c, 0xc0)),
    ("coroutines-offload", RGBColor(0xc5, 0x1b, 0x7d)),
];

/// The peers the design names (nginx and the Python servers of the asyncio/Twisted debate).
const PEER_COLORS: [(&str, RGBColor); 7] = [
    ("nginx", RGBColor(0x00, 0x83, 0x8f)),
    ("asyncio", RGBColor(0xc9, 0x9a, 0x00)),
    ("twisted", RGBColor(0x8c, 0x56, 0x4b)),
    ("tornado", RGBColor(0xd6, 0x27, 0x28)),
    ("gevent", RGBColor(0x2f, 0x4f, 0x4f)),
    ("curio", RGBColor(0x9a, 0x9b, 0x1b)),
    ("gunicorn", RGBColor(0xe3, 0x77, 0xc2)),
];

/// Colours for any other label, picked by a hash of the label.
const OTHER_COLORS: [RGBColor; 8] = [
    RGBColor(0x31, 0x82, 0xbd),
    RGBColor(0x8c, 0x6d, 0x31),
    RGBColor(0x63, 0x79, 0x39),
    RGBColor(0x84, 0x3c, 0x39),
    RGBColor(0x7b, 0x41, 0x73),
    RGBColor(0xe6, 0x55, 0x0d),
    RGBColor(0x17, 0xa2, 0xb8),
    RGBColor(0x52, 0x52, 0x52),
];

/// How an engine's series are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineStyle {
    /// Its colour, on every chart.
    pub color: RGBColor,
    /// A peer (not one of this project's engines): drawn with square markers instead of
    /// round ones, so the Rust engines and "the real thing" are told apart without a legend.
    pub peer: bool,
}

/// The style of the engine or peer with this label (`threads`, `selector+offload`, `nginx`).
pub fn engine_style(label: &str) -> EngineStyle {
    let key = normalize(label);
    if let Some((_, color)) = ENGINE_COLORS.iter().find(|(name, _)| *name == key) {
        return EngineStyle {
            color: *color,
            peer: false,
        };
    }
    let color = PEER_COLORS
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, color)| *color)
        .unwrap_or_else(|| OTHER_COLORS[(fnv1a(&key) % OTHER_COLORS.len() as u64) as usize]);
    EngineStyle { color, peer: true }
}

/// The colour of the engine or peer with this label: see [`engine_style`].
pub fn engine_color(label: &str) -> RGBColor {
    engine_style(label).color
}

/// Whether the label names a peer rather than one of this project's engines.
pub fn is_peer(label: &str) -> bool {
    engine_style(label).peer
}

/// A colour as SVG and CSS write it: `#1f5fa8`.
pub fn color_hex(color: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", color.0, color.1, color.2)
}

/// Where the label sorts: built-in engines in [`ENGINE_ORDER`], then peers by name.
pub(crate) fn sort_key(label: &str) -> (usize, String) {
    let key = normalize(label);
    let rank = ENGINE_ORDER
        .iter()
        .position(|name| *name == key)
        .unwrap_or(ENGINE_ORDER.len());
    (rank, key)
}

/// Colours for the lines of a comparison across runs, by the run's position.
pub(crate) fn run_color(index: usize) -> RGBColor {
    const RUNS: [RGBColor; 6] = [
        RGBColor(0x1f, 0x5f, 0xa8),
        RGBColor(0xd5, 0x5e, 0x00),
        RGBColor(0x1b, 0x78, 0x37),
        RGBColor(0x76, 0x2a, 0x83),
        RGBColor(0x00, 0x83, 0x8f),
        RGBColor(0x8c, 0x56, 0x4b),
    ];
    RUNS[index % RUNS.len()]
}

/// `Selector+Offload` and `selector_offload` name the same engine as `selector-offload`.
fn normalize(label: &str) -> String {
    label.trim().to_lowercase().replace(['+', '_'], "-")
}

/// FNV-1a: a hash that is the same on every machine and every release (unlike std's).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
