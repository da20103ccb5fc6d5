//! Where the Card page finds the holder's purse: a virtual card in this page, a USB
//! CCID reader (WebUSB), a HID token (WebHID) or any PC/SC reader behind the localhost
//! `card-bridge` — all one [`CardTransport`], [`PageReader`], so the page's purse
//! operations run the same code over each. Also the reader choice kept in
//! `localStorage`, and transport and card errors in words a holder can act on.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use ecash_card::apdu::Sw;
use ecash_card::transport::Connected;
use ecash_card::transport::bridge::codes;
use ecash_card::transport::ccid::CcidReader;
use ecash_card::transport::hid::{DEFAULT_CHANNEL, HidToken};
use ecash_card::transport::virtual_reader::VirtualReader;
use ecash_card::transport::web::{self, BridgeTransport, DeviceFilter, WebHidPipe, WebUsbPipe};
use ecash_card::{CardHandle, CardTransport, ReaderInfo, TransportError};

/// `card-bridge serve`'s default address (its `--listen` default).
pub const DEFAULT_BRIDGE_URL: &str = "ws://127.0.0.1:35990/";

const KIND_KEY: &str = "ecash-card-reader";
const BRIDGE_URL_KEY: &str = "ecash-card-bridge-url";

/// The kinds of reader the page offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReaderKind {
    /// A virtual purse kept in this page (IndexedDB).
    #[default]
    Virtual,
    /// A USB reader speaking CCID, over WebUSB.
    Usb,
    /// A HID token (Ledger-style framing), over WebHID.
    Hid,
    /// Any PC/SC reader, through `card-bridge` on 127.0.0.1.
    Bridge,
}

impl ReaderKind {
    /// All kinds, in the picker's order.
    pub const ALL: [ReaderKind; 4] = [
        ReaderKind::Virtual,
        ReaderKind::Usb,
        ReaderKind::Hid,
        ReaderKind::Bridge,
    ];

    /// The value kept in `localStorage` and used in the picker.
    pub fn as_str(self) -> &'static str {
        match self {
            ReaderKind::Virtual => "virtual",
            ReaderKind::Usb => "usb",
            ReaderKind::Hid => "hid",
            ReaderKind::Bridge => "bridge",
        }
    }

    /// The kind named `s` (anything else: the virtual purse).
    pub fn parse(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .unwrap_or_default()
    }

    /// The picker's label.
    pub fn label(self) -> &'static str {
        match self {
            ReaderKind::Virtual => "Virtual (in this page)",
            ReaderKind::Usb => "USB reader (WebUSB, CCID)",
            ReaderKind::Hid => "HID token (WebHID)",
            ReaderKind::Bridge => "Card bridge (localhost)",
        }
    }

    fn api(self) -> &'static str {
        match self {
            ReaderKind::Usb => "WebUSB",
            ReaderKind::Hid => "WebHID",
            ReaderKind::Virtual | ReaderKind::Bridge => "this reader",
        }
    }
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The reader kind and bridge URL chosen last (never the bridge's token).
pub fn load_choice() -> (ReaderKind, String) {
    let get = |key| local_storage().and_then(|s| s.get_item(key).ok().flatten());
    let kind = get(KIND_KEY)
        .map(|k| ReaderKind::parse(&k))
        .unwrap_or_default();
    let url = get(BRIDGE_URL_KEY).unwrap_or_else(|| DEFAULT_BRIDGE_URL.to_owned());
    (kind, url)
}

/// Remembers the reader kind and bridge URL (best effort: storage may be disabled).
pub fn save_choice(kind: ReaderKind, bridge_url: &str) {
    if let Some(s) = local_storage() {
        let _ = s.set_item(KIND_KEY, kind.as_str());
        let _ = s.set_item(BRIDGE_URL_KEY, bridge_url);
    }
}

/// A transport that is not `Clone` (a WebUSB or WebHID device), shared by the page's
/// purse clients. A command takes the device for its duration, so a second one meanwhile
/// gets an error instead of interleaving frames (the page runs one operation at a time).
pub struct Shared<T>(Rc<RefCell<Option<T>>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> Shared<T> {
    fn new(t: T) -> Self {
        Shared(Rc::new(RefCell::new(Some(t))))
    }

    fn take(&self) -> Result<T, TransportError> {
        self.0
            .borrow_mut()
            .take()
            .ok_or_else(|| TransportError::Io("the reader is busy with another command".into()))
    }

    fn put(&self, t: T) {
        *self.0.borrow_mut() = Some(t);
    }
}

impl<T: CardTransport> CardTransport for Shared<T> {
    async fn list_readers(&mut self) -> Result<Vec<ReaderInfo>, TransportError> {
        let mut t = self.take()?;
        let r = t.list_readers().await;
        self.put(t);
        r
    }

    async fn connect(&mut self, reader: &str) -> Result<Connected, TransportError> {
        let mut t = self.take()?;
        let r = t.connect(reader).await;
        self.put(t);
        r
    }

    async fn transmit(
        &mut self,
        handle: CardHandle,
        apdu: &[u8],
    ) -> Result<Vec<u8>, TransportError> {
        let mut t = self.take()?;
        let r = t.transmit(handle, apdu).await;
        self.put(t);
        r
    }

    async fn disconnect(&mut self, handle: CardHandle) -> Result<(), TransportError> {
        let mut t = self.take()?;
        let r = t.disconnect(handle).await;
        self.put(t);
        r
    }
}

#[derive(Clone)]
enum Device {
    Virtual(VirtualReader),
    Usb(Shared<CcidReader<WebUsbPipe>>),
    Hid(Shared<HidToken<WebHidPipe>>),
    Bridge(BridgeTransport),
}

/// Runs one [`CardTransport`] method on whichever device is behind the reader.
macro_rules! on_device {
    ($device:expr, $t:ident => $call:expr) => {
        match $device {
            Device::Virtual($t) => $call,
            Device::Usb($t) => $call,
            Device::Hid($t) => $call,
            Device::Bridge($t) => $call,
        }
    };
}

/// The reader the page's purse clients talk through (clones share it). It remembers
/// the cards it connected and that were not disconnected — a purse operation that
/// failed half-way drops its client — so [`PageReader::release_left_open`] can free
/// them (the bridge allows a session only a few at once).
#[derive(Clone)]
pub struct PageReader {
    device: Device,
    open: Rc<RefCell<BTreeSet<CardHandle>>>,
}

impl PageReader {
    fn new(device: Device) -> Self {
        PageReader {
            device,
            open: Rc::default(),
        }
    }

    /// The page's virtual cards.
    pub fn virtual_cards(reader: VirtualReader) -> Self {
        Self::new(Device::Virtual(reader))
    }

    /// Opens a device of `kind`: the browser's chooser for USB and HID (call it from a
    /// click handler: `requestDevice` needs the user's gesture), the bridge at
    /// `bridge_url` with its session `token`. Errors are the message to show.
    pub async fn open(kind: ReaderKind, bridge_url: &str, token: &str) -> Result<Self, String> {
        let device = match kind {
            ReaderKind::Virtual => {
                return Err("The virtual purse needs no device.".to_owned());
            }
            ReaderKind::Usb => {
                // CCID readers (Chrome refuses class 0x0B at claim time; saying so
                // then is clearer than an empty chooser) and vendor-specific ones.
                let filters = [0x0B, 0xFF].map(|class| DeviceFilter {
                    class_code: Some(class),
                    ..DeviceFilter::default()
                });
                let reader = web::request_ccid_reader(&filters)
                    .await
                    .map_err(|e| open_failed(kind, &e))?;
                Device::Usb(Shared::new(reader))
            }
            ReaderKind::Hid => {
                let token = web::request_hid_token(&[], DEFAULT_CHANNEL)
                    .await
                    .map_err(|e| open_failed(kind, &e))?;
                Device::Hid(Shared::new(token))
            }
            ReaderKind::Bridge => {
                let token = token.trim();
                if token.is_empty() {
                    return Err("Paste the session token `card-bridge serve` printed.".to_owned());
                }
                let bridge = BridgeTransport::connect(bridge_url.trim(), token)
                    .await
                    .map_err(|e| bridge_failed(bridge_url, &e))?;
                Device::Bridge(bridge)
            }
        };
        Ok(Self::new(device))
    }

    /// Whether these are the page's virtual cards.
    pub fn is_virtual(&self) -> bool {
        matches!(self.device, Device::Virtual(_))
    }

    /// Disconnects the cards that purse clients left connected.
    pub async fn release_left_open(&mut self) {
        let handles = std::mem::take(&mut *self.open.borrow_mut());
        for h in handles {
            let _ = on_device!(&mut self.device, t => t.disconnect(h).await);
        }
    }
}

impl CardTransport for PageReader {
    async fn list_readers(&mut self) -> Result<Vec<ReaderInfo>, TransportError> {
        on_device!(&mut self.device, t => t.list_readers().await)
    }

    async fn connect(&mut self, reader: &str) -> Result<Connected, TransportError> {
        let c = on_device!(&mut self.device, t => t.connect(reader).await)?;
        self.open.borrow_mut().insert(c.handle);
        Ok(c)
    }

    async fn transmit(
        &mut self,
        handle: CardHandle,
        apdu: &[u8],
    ) -> Result<Vec<u8>, TransportError> {
        on_device!(&mut self.device, t => t.transmit(handle, apdu).await)
    }

    async fn disconnect(&mut self, handle: CardHandle) -> Result<(), TransportError> {
        self.open.borrow_mut().remove(&handle);
        on_device!(&mut self.device, t => t.disconnect(handle).await)
    }
}

/// Why the browser gave no USB or HID device.
fn open_failed(kind: ReaderKind, e: &TransportError) -> String {
    let api = kind.api();
    let bridge = "Use the card bridge (localhost) instead: it reaches any PC/SC reader.";
    match e {
        TransportError::Unsupported(_) => format!(
            "{api} is not available in this browser: it needs Chrome or Edge, on https or \
             localhost (Firefox and Safari do not have it). {bridge}"
        ),
        TransportError::NoSuchReader(_) => format!("No device was chosen. {bridge}"),
        TransportError::Io(m) if m.starts_with("NotFoundError") => {
            format!("No device was chosen (or none matched). {bridge}")
        }
        TransportError::Io(m) if m.starts_with("SecurityError") => format!(
            "The browser refused {api} access ({m}). Chrome blocks USB smart-card (CCID) \
             readers for web pages, and asks for a click before showing its device \
             chooser. {bridge}"
        ),
        other => format!("{api} could not open the device: {other}. {bridge}"),
    }
}

/// Why the bridge could not be used.
fn bridge_failed(url: &str, e: &TransportError) -> String {
    match e {
        TransportError::Bridge { code, .. } if code == codes::UNAUTHORIZED => {
            "The card bridge refused the session token: paste the token `card-bridge serve` \
             printed when it started."
                .to_owned()
        }
        TransportError::Io(m) if m.contains("closed") => {
            "The card bridge closed the connection: check the session token `card-bridge \
             serve` printed."
                .to_owned()
        }
        TransportError::Io(_) => format!(
            "Cannot reach the card bridge at {url}: is `card-bridge serve` running, and does \
             it allow this page's origin (--allow-origin {})?",
            page_origin()
        ),
        other => format!("The card bridge failed: {}", describe_transport(other)),
    }
}

fn page_origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_else(|| "<this page's origin>".to_owned())
}

fn describe_transport(e: &TransportError) -> String {
    match e {
        TransportError::NoCard => {
            "no card in the reader (was it removed?): insert it and press Connect".to_owned()
        }
        TransportError::NoSuchHandle => {
            "the card was removed or reset: insert it and press Connect".to_owned()
        }
        TransportError::NoSuchReader(name) => {
            format!("the reader {name:?} is gone (unplugged?): press Connect")
        }
        TransportError::Io(m) => format!(
            "the reader stopped answering (unplugged, or card-bridge stopped?): {m}. Press \
             Connect to try again"
        ),
        TransportError::Bridge { code, .. } if code == codes::TOO_MANY_HANDLES => {
            "the card bridge holds too many open cards for this page: press Connect".to_owned()
        }
        TransportError::Bridge { code, detail } => {
            format!("the card bridge answered {code}: {detail}")
        }
        other => other.to_string(),
    }
}

/// A card exchange's error in words: a wrong or blocked PIN, a card removed, a reader
/// gone; otherwise the error itself.
pub fn describe_card_error(e: &ecash_card::Error) -> String {
    match e {
        ecash_card::Error::Status(sw) => match sw.retries() {
            Some(n) => format!("wrong PIN ({n} tries left)"),
            None if *sw == Sw::AUTH_BLOCKED => {
                "the PIN is blocked (too many wrong PINs): unblock it with the PUK".to_owned()
            }
            None => e.to_string(),
        },
        ecash_card::Error::Transport(t) => describe_transport(t),
        other => other.to_string(),
    }
}
