//! Browser glue (wasm32 only): WebUSB for CCID readers, WebHID for HID tokens, and a
//! WebSocket client for the localhost card bridge.
//!
//! WebUSB and WebHID are reached through `js_sys::Reflect` rather than web-sys's `Usb*`
//! / `Hid*` bindings, which need `--cfg web_sys_unstable_apis` for the whole build.
//!
//! Which readers work:
//!
//! - **WebUSB** (Chrome, Edge; https or localhost; `requestDevice` needs a user click):
//!   Chrome refuses to open interfaces of *protected classes*, smart-card (CCID, class
//!   0x0B) among them. So only readers that expose their CCID protocol on a
//!   vendor-specific interface (class 0xFF) can be driven from a page — some
//!   programmable readers and development boards can be configured that way; stock
//!   CCID readers cannot. Chrome's Isolated Web Apps / `--disable-webusb-security` are
//!   not for ordinary pages. Everything else goes through the bridge.
//! - **WebHID** (Chrome, Edge): tokens speaking APDUs over HID reports, e.g. Ledger
//!   devices (vendor 0x2C97) running an app that answers our purse's APDUs. FIDO
//!   (usage page 0xF1D0) is blocked as a protected usage.
//! - **Bridge**: any PC/SC reader, via `card-bridge` on 127.0.0.1.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, WebSocket};

use super::bridge::{BridgeRequest, BridgeResponse, ClientCore, HexBytes};
use super::ccid::{self, BulkPipe, CcidReader};
use super::hid::{HidToken, REPORT_LEN, ReportPipe};
use super::{CardHandle, CardTransport, Connected, ReaderInfo, TransportError};

/// How long to wait for a device report or a bridge answer.
const TIMEOUT_MS: i32 = 30_000;

fn js_err(e: JsValue) -> TransportError {
    let name = Reflect::get(&e, &"name".into())
        .ok()
        .and_then(|v| v.as_string());
    let message = Reflect::get(&e, &"message".into())
        .ok()
        .and_then(|v| v.as_string())
        .or_else(|| e.as_string());
    TransportError::Io(match (name, message) {
        (Some(n), Some(m)) => format!("{n}: {m}"),
        (None, Some(m)) => m,
        (Some(n), None) => n,
        (None, None) => "JavaScript error".into(),
    })
}

fn get(obj: &JsValue, key: &str) -> Result<JsValue, TransportError> {
    Reflect::get(obj, &key.into()).map_err(js_err)
}

fn set(obj: &Object, key: &str, value: &JsValue) -> Result<(), TransportError> {
    Reflect::set(obj, &key.into(), value)
        .map(drop)
        .map_err(js_err)
}

fn call(obj: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, TransportError> {
    let f: Function = get(obj, method)?
        .dyn_into()
        .map_err(|_| TransportError::Unsupported(format!("{method} is not a function")))?;
    let list = Array::new();
    for a in args {
        list.push(a);
    }
    f.apply(obj, &list).map_err(js_err)
}

async fn call_async(
    obj: &JsValue,
    method: &str,
    args: &[JsValue],
) -> Result<JsValue, TransportError> {
    let promise: Promise = call(obj, method, args)?
        .dyn_into()
        .map_err(|_| TransportError::Io(format!("{method} did not return a promise")))?;
    JsFuture::from(promise).await.map_err(js_err)
}

fn navigator_api(name: &str) -> Result<JsValue, TransportError> {
    let nav = get(&js_sys::global(), "navigator")?;
    let api = get(&nav, name)?;
    if api.is_undefined() || api.is_null() {
        return Err(TransportError::Unsupported(format!(
            "navigator.{name} is not available (Chrome or Edge, https or localhost)"
        )));
    }
    Ok(api)
}

/// Bytes of a `DataView`.
fn data_view_bytes(view: &JsValue) -> Result<Vec<u8>, TransportError> {
    let buffer = get(view, "buffer")?;
    let offset = get(view, "byteOffset")?.as_f64().unwrap_or(0.0) as u32;
    let len = get(view, "byteLength")?.as_f64().unwrap_or(0.0) as u32;
    Ok(Uint8Array::new_with_byte_offset_and_length(&buffer, offset, len).to_vec())
}

fn u8_array(bytes: &[u8]) -> JsValue {
    Uint8Array::from(bytes).into()
}

/// A WebUSB / WebHID device filter (all given fields must match).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    /// USB vendor id.
    pub vendor_id: Option<u16>,
    /// USB product id.
    pub product_id: Option<u16>,
    /// WebUSB: interface class (0xFF vendor-specific; 0x0B is blocked by Chrome).
    pub class_code: Option<u8>,
    /// WebHID: usage page.
    pub usage_page: Option<u16>,
}

fn filters_js(filters: &[DeviceFilter]) -> Result<JsValue, TransportError> {
    let list = Array::new();
    for f in filters {
        let o = Object::new();
        if let Some(v) = f.vendor_id {
            set(&o, "vendorId", &v.into())?;
        }
        if let Some(v) = f.product_id {
            set(&o, "productId", &v.into())?;
        }
        if let Some(v) = f.class_code {
            set(&o, "classCode", &v.into())?;
        }
        if let Some(v) = f.usage_page {
            set(&o, "usagePage", &v.into())?;
        }
        list.push(&o);
    }
    let options = Object::new();
    set(&options, "filters", &list)?;
    Ok(options.into())
}

/// WebUSB bulk endpoints of an opened, claimed device.
#[derive(Debug)]
pub struct WebUsbPipe {
    device: JsValue,
    ep_in: u8,
    ep_out: u8,
}

impl BulkPipe for WebUsbPipe {
    async fn write(&mut self, data: &[u8]) -> Result<(), TransportError> {
        let r = call_async(
            &self.device,
            "transferOut",
            &[self.ep_out.into(), u8_array(data)],
        )
        .await?;
        match get(&r, "status")?.as_string().as_deref() {
            Some("ok") => Ok(()),
            other => Err(TransportError::Io(format!("transferOut: {other:?}"))),
        }
    }

    async fn read(&mut self, max_len: usize) -> Result<Vec<u8>, TransportError> {
        let len = u32::try_from(max_len).unwrap_or(u32::MAX);
        let r = call_async(&self.device, "transferIn", &[self.ep_in.into(), len.into()]).await?;
        match get(&r, "status")?.as_string().as_deref() {
            Some("ok") => data_view_bytes(&get(&r, "data")?),
            other => Err(TransportError::Io(format!("transferIn: {other:?}"))),
        }
    }
}

/// Asks the user to pick a reader (call from a click handler), opens it, claims its
/// CCID interface (class 0x0B or vendor-specific 0xFF with bulk IN and OUT), reads the
/// CCID descriptor's maximum message length, and returns it as a [`CardTransport`].
pub async fn request_ccid_reader(
    filters: &[DeviceFilter],
) -> Result<CcidReader<WebUsbPipe>, TransportError> {
    let usb = navigator_api("usb")?;
    let device = call_async(&usb, "requestDevice", &[filters_js(filters)?]).await?;
    call_async(&device, "open", &[]).await?;
    if get(&device, "configuration")?.is_null() {
        call_async(&device, "selectConfiguration", &[1.into()]).await?;
    }
    let config = get(&device, "configuration")?;
    let interfaces: Array = get(&config, "interfaces")?
        .dyn_into()
        .map_err(|_| TransportError::Protocol("no interfaces".into()))?;
    let mut chosen = None;
    for iface in interfaces.iter() {
        let alt = get(&iface, "alternate")?;
        let class = get(&alt, "interfaceClass")?.as_f64().unwrap_or(0.0) as u8;
        if class != 0x0B && class != 0xFF {
            continue;
        }
        let (mut ep_in, mut ep_out, mut packet) = (None, None, 64usize);
        let endpoints: Array = get(&alt, "endpoints")?
            .dyn_into()
            .map_err(|_| TransportError::Protocol("no endpoints".into()))?;
        for ep in endpoints.iter() {
            if get(&ep, "type")?.as_string().as_deref() != Some("bulk") {
                continue;
            }
            let n = get(&ep, "endpointNumber")?.as_f64().unwrap_or(0.0) as u8;
            match get(&ep, "direction")?.as_string().as_deref() {
                Some("in") => {
                    ep_in = Some(n);
                    packet = get(&ep, "packetSize")?.as_f64().unwrap_or(64.0) as usize;
                }
                Some("out") => ep_out = Some(n),
                _ => {}
            }
        }
        if let (Some(i), Some(o)) = (ep_in, ep_out) {
            let number = get(&iface, "interfaceNumber")?;
            chosen = Some((number, i, o, packet));
            break;
        }
    }
    let (number, ep_in, ep_out, packet) = chosen.ok_or_else(|| {
        TransportError::Unsupported("no CCID-like interface with bulk endpoints".into())
    })?;
    call_async(&device, "claimInterface", &[number]).await?;
    // GET_DESCRIPTOR(configuration): the CCID class descriptor carries
    // dwMaxCCIDMessageLength; fall back to the short-APDU default.
    let setup = Object::new();
    set(&setup, "requestType", &"standard".into())?;
    set(&setup, "recipient", &"device".into())?;
    set(&setup, "request", &6.into())?;
    set(&setup, "value", &0x0200.into())?;
    set(&setup, "index", &0.into())?;
    let max_message =
        match call_async(&device, "controlTransferIn", &[setup.into(), 1024.into()]).await {
            Ok(r) => data_view_bytes(&get(&r, "data")?)
                .ok()
                .and_then(|d| ccid::max_message_from_config_descriptor(&d))
                .unwrap_or(ccid::DEFAULT_MAX_MESSAGE),
            Err(_) => ccid::DEFAULT_MAX_MESSAGE,
        };
    let name = get(&device, "productName")?
        .as_string()
        .unwrap_or_else(|| "USB reader".into());
    Ok(CcidReader::new(
        WebUsbPipe {
            device,
            ep_in,
            ep_out,
        },
        &name,
        max_message,
        packet,
    ))
}

#[derive(Default)]
struct ReportQueue {
    reports: VecDeque<Vec<u8>>,
    waiter: Option<Function>,
}

/// A WebHID device: output reports out, `inputreport` events queued in.
pub struct WebHidPipe {
    device: JsValue,
    queue: Rc<RefCell<ReportQueue>>,
    _listener: Closure<dyn FnMut(JsValue)>,
}

impl core::fmt::Debug for WebHidPipe {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("WebHidPipe")
    }
}

impl ReportPipe for WebHidPipe {
    async fn send(&mut self, report: &[u8; REPORT_LEN]) -> Result<(), TransportError> {
        call_async(&self.device, "sendReport", &[0.into(), u8_array(report)])
            .await
            .map(drop)
    }

    async fn receive(&mut self) -> Result<Vec<u8>, TransportError> {
        if let Some(r) = self.queue.borrow_mut().reports.pop_front() {
            return Ok(r);
        }
        let queue = self.queue.clone();
        let wait = Promise::new(&mut |resolve, reject| {
            queue.borrow_mut().waiter = Some(resolve);
            if let Some(w) = web_sys::window() {
                let _ =
                    w.set_timeout_with_callback_and_timeout_and_arguments_0(&reject, TIMEOUT_MS);
            }
        });
        let outcome = JsFuture::from(wait).await;
        self.queue.borrow_mut().waiter = None;
        outcome.map_err(|_| TransportError::Io("HID token did not answer".into()))?;
        self.queue
            .borrow_mut()
            .reports
            .pop_front()
            .ok_or_else(|| TransportError::Io("HID: woken without a report".into()))
    }
}

/// Asks the user to pick a HID token (call from a click handler), opens it and returns
/// it as a [`CardTransport`] speaking the framing of [`super::hid`] on `channel`.
pub async fn request_hid_token(
    filters: &[DeviceFilter],
    channel: u16,
) -> Result<HidToken<WebHidPipe>, TransportError> {
    let api = navigator_api("hid")?;
    let devices: Array = call_async(&api, "requestDevice", &[filters_js(filters)?])
        .await?
        .dyn_into()
        .map_err(|_| TransportError::Protocol("requestDevice did not return a list".into()))?;
    let device = devices.get(0);
    if device.is_undefined() {
        return Err(TransportError::NoSuchReader("no HID device chosen".into()));
    }
    call_async(&device, "open", &[]).await?;
    let queue = Rc::new(RefCell::new(ReportQueue::default()));
    let q = queue.clone();
    let listener = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let Ok(data) = get(&event, "data") else {
            return;
        };
        let Ok(bytes) = data_view_bytes(&data) else {
            return;
        };
        let mut q = q.borrow_mut();
        q.reports.push_back(bytes);
        if let Some(w) = q.waiter.take() {
            let _ = w.call0(&JsValue::NULL);
        }
    });
    call(
        &device,
        "addEventListener",
        &["inputreport".into(), listener.as_ref().clone()],
    )?;
    let name = get(&device, "productName")?
        .as_string()
        .unwrap_or_else(|| "HID token".into());
    Ok(HidToken::new(
        WebHidPipe {
            device,
            queue,
            _listener: listener,
        },
        &name,
        channel,
    ))
}

type Pending = Rc<RefCell<BTreeMap<u64, (Function, Function)>>>;

struct BridgeInner {
    ws: WebSocket,
    core: RefCell<ClientCore>,
    pending: Pending,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(JsValue)>,
}

impl Drop for BridgeInner {
    fn drop(&mut self) {
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

/// The localhost card bridge as a [`CardTransport`]. Clones share the connection.
#[derive(Clone)]
pub struct BridgeTransport(Rc<BridgeInner>);

impl core::fmt::Debug for BridgeTransport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BridgeTransport")
    }
}

#[derive(serde::Deserialize)]
struct IdOnly {
    id: u64,
}

impl BridgeTransport {
    /// Connects to `url` (e.g. `ws://127.0.0.1:35990/`) and authenticates with the token
    /// the bridge printed.
    pub async fn connect(url: &str, token: &str) -> Result<Self, TransportError> {
        let ws = WebSocket::new(url).map_err(js_err)?;
        let opened = Promise::new(&mut |resolve, reject| {
            ws.set_onopen(Some(&resolve));
            ws.set_onerror(Some(&reject));
        });
        let outcome = JsFuture::from(opened).await;
        ws.set_onopen(None);
        ws.set_onerror(None);
        outcome.map_err(|_| {
            TransportError::Io(format!("cannot open {url}: is card-bridge running?"))
        })?;

        let pending: Pending = Rc::default();
        let p = pending.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let Some(text) = e.data().as_string() else {
                return;
            };
            let Ok(IdOnly { id }) = serde_json::from_str::<IdOnly>(&text) else {
                return;
            };
            let waiter = p.borrow_mut().remove(&id);
            if let Some((resolve, _)) = waiter {
                let _ = resolve.call1(&JsValue::NULL, &JsValue::from_str(&text));
            }
        });
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let p = pending.clone();
        let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let all = core::mem::take(&mut *p.borrow_mut());
            for (_, (_, reject)) in all {
                let _ = reject.call1(&JsValue::NULL, &"bridge connection closed".into());
            }
        });
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let bridge = BridgeTransport(Rc::new(BridgeInner {
            ws,
            core: RefCell::new(ClientCore::new()),
            pending,
            _on_message: on_message,
            _on_close: on_close,
        }));
        let token = token.to_owned();
        bridge
            .request(|id| BridgeRequest::Hello { id, token })
            .await?;
        Ok(bridge)
    }

    async fn request(
        &self,
        make: impl FnOnce(u64) -> BridgeRequest,
    ) -> Result<BridgeResponse, TransportError> {
        let id = self.0.core.borrow_mut().next_id();
        let text = ClientCore::encode(&make(id))?;
        let pending = self.0.pending.clone();
        let answer = Promise::new(&mut |resolve, reject| {
            if let Some(w) = web_sys::window() {
                let _ =
                    w.set_timeout_with_callback_and_timeout_and_arguments_0(&reject, TIMEOUT_MS);
            }
            pending.borrow_mut().insert(id, (resolve, reject));
        });
        if let Err(e) = self.0.ws.send_with_str(&text) {
            self.0.pending.borrow_mut().remove(&id);
            return Err(js_err(e));
        }
        let outcome = JsFuture::from(answer).await;
        self.0.pending.borrow_mut().remove(&id);
        let text = outcome
            .map_err(|e| match e.as_string() {
                Some(m) => TransportError::Io(m),
                None => TransportError::Io("card bridge did not answer in time".into()),
            })?
            .as_string()
            .unwrap_or_default();
        ClientCore::decode(id, &text)
    }
}

impl CardTransport for BridgeTransport {
    async fn list_readers(&mut self) -> Result<Vec<ReaderInfo>, TransportError> {
        let r = self.request(|id| BridgeRequest::List { id }).await?;
        Ok(r.readers.unwrap_or_default())
    }

    async fn connect(&mut self, reader: &str) -> Result<Connected, TransportError> {
        let reader = reader.to_owned();
        let r = self
            .request(|id| BridgeRequest::Connect { id, reader })
            .await?;
        let handle = r
            .handle
            .ok_or_else(|| TransportError::Protocol("connect answer without handle".into()))?;
        Ok(Connected {
            handle,
            atr: r.atr.unwrap_or_default().0,
        })
    }

    async fn transmit(
        &mut self,
        handle: CardHandle,
        apdu: &[u8],
    ) -> Result<Vec<u8>, TransportError> {
        let apdu = HexBytes(apdu.to_vec());
        let r = self
            .request(|id| BridgeRequest::Transmit { id, handle, apdu })
            .await?;
        r.response
            .map(|h| h.0)
            .ok_or_else(|| TransportError::Protocol("transmit answer without response".into()))
    }

    async fn disconnect(&mut self, handle: CardHandle) -> Result<(), TransportError> {
        self.request(|id| BridgeRequest::Disconnect { id, handle })
            .await
            .map(drop)
    }
}
