//! A QR code as inline SVG, made by the `qrcode` crate.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use yew::prelude::*;

/// Properties of [`Qr`].
#[derive(Properties, PartialEq)]
pub struct QrProps {
    /// What the code carries.
    pub data: AttrValue,
    /// Element id.
    pub id: AttrValue,
    /// Accessible description.
    pub label: AttrValue,
}

/// The SVG markup for `data`, or `None` when it is too long for a QR code.
fn render(data: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::L).ok()?;
    let svg = code
        .render::<svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    // Drop the XML declaration: the SVG goes inline into the HTML document.
    Some(match svg.find("<svg") {
        Some(i) => svg[i..].to_owned(),
        None => svg,
    })
}

/// A QR code of `data`, or a note when it does not fit in one.
#[component]
pub fn Qr(p: &QrProps) -> Html {
    let svg = use_memo(p.data.clone(), |data| render(data));
    match &*svg {
        // Only markup our own renderer just produced from the data's bits is
        // injected: no text from the data itself appears in it.
        Some(markup) => html! {
            <figure class="qr" id={p.id.clone()} role="img" aria-label={p.label.clone()}>
                { Html::from_html_unchecked(AttrValue::from(markup.clone())) }
            </figure>
        },
        None => html! {
            <p class="muted" id={p.id.clone()}>
                { "This token is too long for a QR code (a QR code holds about 6 coins): copy the text instead." }
            </p>
        },
    }
}
