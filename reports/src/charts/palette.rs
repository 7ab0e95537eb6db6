//! One colour per engine, the same on every chart, legend and page.
//!
//! The colours live in the engine registry ([`wb_model::engines`]) beside each engine's
//! name, family and order, and in each peer's definition ([`wb_runner::peers`]): this module
//! only turns them into plotters colours. The four models have fixed colours and their
//! variants a related shade of their model's, so `selector-offload` reads as "a kind of
//! selector" at a glance. Any label the registry does not know (a server measured by hand)
//! gets a colour from a small palette chosen by a hash of the label: stable across pages and
//! runs.

use plotters::style::RGBColor;
use wb_model::engines::{self, ENGINES};

/// The built-in engines in the order charts, legends and tables list them: the registry's.
pub const ENGINE_ORDER: [&str; ENGINES.len()] = {
    let mut out = [""; ENGINES.len()];
    let mut i = 0;
    while i < ENGINES.len() {
        out[i] = ENGINES[i].label;
        i += 1;
    }
    out
};

/// The built-in engines' colours, from the registry, in [`ENGINE_ORDER`].
pub(crate) const ENGINE_COLORS: [(&str, RGBColor); ENGINES.len()] = {
    let mut out = [("", RGBColor(0, 0, 0)); ENGINES.len()];
    let mut i = 0;
    while i < ENGINES.len() {
        let [r, g, b] = ENGINES[i].color;
        out[i] = (ENGINES[i].label, RGBColor(r, g, b));
        i += 1;
    }
    out
};

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
    if let Some(engine) = engines::find(label) {
        let [r, g, b] = engine.color;
        return EngineStyle {
            color: RGBColor(r, g, b),
            peer: false,
        };
    }
    // A parametrized engine (`pool:workers=8`): a shade of the engine it is a kind of.
    if let Some(engine) = engines::resolve(label) {
        return EngineStyle {
            color: shade(engine.color, &engines::normalize(label)),
            peer: false,
        };
    }
    let key = engines::normalize(label);
    let color = match wb_model::peers::find(&key) {
        Some(peer) => RGBColor(peer.color[0], peer.color[1], peer.color[2]),
        None => OTHER_COLORS[(fnv1a(&key) % OTHER_COLORS.len() as u64) as usize],
    };
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

/// A shade of `base` for a parametrized label: lighter or darker by a step chosen from its
/// parameters (stable across pages and runs), so `pool:workers=2` and `pool:workers=4` read
/// as two kinds of pool and as two series. A number (`8`, `8MiB`) counts by its power of two,
/// so a sweep by doubling (2, 4, 8 workers; 32 KiB, 2 MiB, 8 MiB stacks) gets a shade per
/// value; any other value by a hash of its text.
fn shade(base: [u8; 3], label: &str) -> RGBColor {
    // Towards white for positive steps, towards black for negative ones; never 0, which
    // would be the engine's own colour.
    const STEPS: [f64; 10] = [0.45, -0.45, 0.3, -0.3, 0.6, -0.2, 0.15, -0.55, 0.7, -0.1];
    let index = label
        .split(':')
        .skip(1)
        .map(|param| {
            let value = param.split_once('=').map_or(param, |(_, v)| v);
            match magnitude(value) {
                Some(n) if n > 0 => u64::from(n.ilog2()),
                _ => fnv1a(param),
            }
        })
        .fold(0u64, u64::wrapping_add);
    let step = STEPS[(index % STEPS.len() as u64) as usize];
    let mix = |c: u8| {
        let c = f64::from(c);
        let target = if step > 0.0 { 255.0 } else { 0.0 };
        (c + (target - c) * step.abs()).round() as u8
    };
    RGBColor(mix(base[0]), mix(base[1]), mix(base[2]))
}

/// A colour as SVG and CSS write it: `#1f5fa8`.
pub fn color_hex(color: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", color.0, color.1, color.2)
}

/// Where the label sorts: the registry's order ([`wb_model::engines::sort_key`]).
pub(crate) fn sort_key(label: &str) -> (usize, String) {
    engines::sort_key(label)
}

/// Colours for the lines of a comparison across runs, by the run's position: the palette of
/// labels the registry does not know.
pub(crate) fn run_color(index: usize) -> RGBColor {
    OTHER_COLORS[index % OTHER_COLORS.len()]
}

/// A value's number, with a K, M or G suffix as powers of 1024: `8mib` is 8 × 2²⁰.
fn magnitude(value: &str) -> Option<u64> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, suffix) = value.split_at(split);
    let shift = match suffix.trim_end_matches(['i', 'b']) {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_shl(shift)
}

/// FNV-1a: a hash that is the same on every machine and every release (unlike std's).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
