//! A small line chart of the wallet balance over its history, as inline SVG.

use ecash_wallet::model::HistoryEntry;
use yew::prelude::*;

/// Properties of [`BalanceChart`].
#[derive(Properties, PartialEq)]
pub struct ChartProps {
    /// `(balance before the first entry, balance after each entry)` in minor units.
    pub points: Vec<u64>,
    /// Currency label.
    pub currency: AttrValue,
}

/// The balance before the first entry, then after each entry (oldest first).
pub fn balance_points(history: &[HistoryEntry]) -> Vec<u64> {
    let mut out = Vec::with_capacity(history.len() + 1);
    if let Some(first) = history.first() {
        let after = first.balance_after.minor();
        let amount = first.amount.minor();
        out.push(if first.incoming {
            after.saturating_sub(amount)
        } else {
            after.saturating_add(amount)
        });
    }
    out.extend(history.iter().map(|h| h.balance_after.minor()));
    out
}

const W: f64 = 600.0;
const H: f64 = 160.0;
const PAD: f64 = 8.0;

/// The chart; one point per history entry, evenly spaced.
#[component]
pub fn BalanceChart(p: &ChartProps) -> Html {
    if p.points.len() < 2 {
        return html! {};
    }
    let max = p.points.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = (p.points.len() - 1) as f64;
    let xy: Vec<(f64, f64)> = p
        .points
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = PAD + (W - 2.0 * PAD) * i as f64 / n;
            let y = H - PAD - (H - 2.0 * PAD) * (*v as f64) / max;
            (x, y)
        })
        .collect();
    let line: String = xy
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let area = format!(
        "{PAD:.1},{:.1} {line} {:.1},{:.1}",
        H - PAD,
        W - PAD,
        H - PAD
    );
    let last = p.points.last().copied().unwrap_or(0);
    let label = format!(
        "Wallet balance over the last {} entries, from {}.{:02} to {}.{:02} {}; highest {}.{:02}",
        p.points.len() - 1,
        p.points[0] / 100,
        p.points[0] % 100,
        last / 100,
        last % 100,
        p.currency,
        max as u64 / 100,
        max as u64 % 100,
    );
    html! {
        <figure class="chart">
            <svg id="history-chart" viewBox={format!("0 0 {W} {H}")} role="img" aria-label={label.clone()}
                preserveAspectRatio="none">
                <title>{ label }</title>
                <line x1={PAD.to_string()} y1={(H - PAD).to_string()} x2={(W - PAD).to_string()} y2={(H - PAD).to_string()} class="axis" />
                <polygon points={area} class="area" />
                <polyline points={line} class="line" />
            </svg>
            <figcaption class="muted small">{ format!("Balance after each entry (max {}.{:02} {})", max as u64 / 100, max as u64 % 100, p.currency) }</figcaption>
        </figure>
    }
}
