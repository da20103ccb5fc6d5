// Runs bank-server's /embed/checkout.js in Node (>= 20: fetch, WebCrypto
// Ed25519) against a live test bank, with a fake window and popup, and checks
// its verification logic. Driven by tests/tests/merchant_static.rs.
//
// env: BANK_URL, PAID_ID (an order paid at that bank), UNPAID_ID (unpaid).
"use strict";

const bank = process.env.BANK_URL;
const paidId = process.env.PAID_ID;
const unpaidId = process.env.UNPAID_ID;
const bankOrigin = new URL(bank).origin;

// A window: an EventTarget with open() and the globals the script reads.
const win = new EventTarget();
let opened = [];
let nextPopup = () => ({ closed: false, location: { href: "" }, close() { this.closed = true; } });
win.open = (url, name, features) => {
  const p = nextPopup();
  if (p) {
    p.location.href = url;
    opened.push({ url, name, features, popup: p });
  }
  return p;
};
win.crypto = globalThis.crypto;
globalThis.window = win;
globalThis.location = new URL(bank + "/shop");
globalThis.document = {
  currentScript: { src: bank + "/embed/checkout.js" },
  readyState: "complete",
  querySelectorAll: () => [],
};

function check(cond, what) {
  if (!cond) throw new Error("FAILED: " + what);
  console.log("ok - " + what);
}

async function rejects(promise, code, what) {
  try {
    await promise;
  } catch (e) {
    check(e.code === code, what + " (got " + e.code + ": " + e.message + ")");
    return;
  }
  throw new Error("FAILED: " + what + ": did not reject");
}

function message(source, origin, data) {
  const ev = new Event("message");
  Object.assign(ev, { source, origin, data });
  win.dispatchEvent(ev);
}

const tick = (ms) => new Promise((r) => setTimeout(r, ms));

// Never hang the test run: a pay() that never settles keeps its poll timer alive.
setTimeout(() => {
  console.error("FAILED: timed out (a promise never settled)");
  process.exit(2);
}, 60_000).unref();

(async () => {
  const src = await (await fetch(bank + "/embed/checkout.js")).text();
  (0, eval)(src);
  const EC = win.EcashCheckout;
  check(typeof EC.pay === "function" && EC.version === 1, "EcashCheckout is defined");

  // Status and receipt verification against the real bank.
  const st = await EC.status(paidId);
  check(st.state === "paid" && st.receipt.order_id === paidId, "status of a paid order");
  const v = await EC.verifyReceipt(st.receipt);
  check(v.verifiedByBank && v.signatureChecked, "a real receipt verifies, Ed25519 signature checked");
  await rejects(
    EC.verifyReceipt({ ...st.receipt, amount: st.receipt.amount + 1 }),
    "RECEIPT_MISMATCH",
    "a receipt with another amount is refused"
  );
  await rejects(EC.verifyReceipt({ ...st.receipt, order_id: unpaidId }), "RECEIPT_MISMATCH",
    "a receipt for an unpaid order is refused");
  await rejects(EC.status("no/such"), "ORDER_NOT_FOUND", "unknown orders are the bank's 404");

  // A bank (or a man in the middle) reporting a receipt whose signature is
  // wrong: the signature check catches it.
  const realFetch = globalThis.fetch;
  const sig = st.receipt.bank_sig;
  const badSig = (sig[0] === "A" ? "B" : "A") + sig.slice(1);
  const doctored = { ...st.receipt, bank_sig: badSig };
  globalThis.fetch = async (url, opts) =>
    String(url).includes("/status")
      ? new Response(JSON.stringify({ state: "paid", receipt: doctored, refunded: null }), {
          status: 200,
          headers: { "content-type": "application/json" },
        })
      : realFetch(url, opts);
  await rejects(EC.verifyReceipt(doctored), "BAD_RECEIPT_SIGNATURE", "a bad bank signature is refused");
  globalThis.fetch = realFetch;

  // pay(): the popup opens at the wallet's pay page; only a message from
  // that popup and the wallet's origin counts.
  opened = [];
  const paying = EC.pay({ orderId: paidId, walletUrl: bank + "/" });
  check(opened.length === 1 && opened[0].url === bank + "/#/pay/" + paidId, "popup opened at /#/pay/{id}");
  const popup = opened[0].popup;
  let settled = false;
  paying.then(() => (settled = true), () => (settled = true));
  message(popup, "https://evil.example", { type: "ecash-receipt", receipt: st.receipt });
  message({}, bankOrigin, { type: "ecash-receipt", receipt: st.receipt });
  message(popup, bankOrigin, { type: "ecash-cancelled", order_id: "someone-else" });
  await tick(200);
  check(!settled, "messages from another origin, another window or about another order are ignored");
  message(popup, bankOrigin, { type: "ecash-receipt", receipt: st.receipt });
  const r = await paying;
  check(r.status === "paid" && r.orderId === paidId && r.verifiedByBank && r.signatureChecked,
    "the wallet's receipt is confirmed with the bank");

  // The wallet claims a payment the bank does not know.
  opened = [];
  const lying = EC.pay({ orderId: unpaidId, walletUrl: bank });
  await tick(50); // the id is taken asynchronously (it may be a promise)
  message(opened[0].popup, bankOrigin, {
    type: "ecash-receipt",
    receipt: { ...st.receipt, order_id: unpaidId },
  });
  await rejects(lying, "RECEIPT_MISMATCH", "a receipt the bank does not confirm is an error");

  // The order id as a promise: a blank popup first, sent to the order later;
  // the wallet says cancelled.
  opened = [];
  let resolveId;
  const later = EC.pay({ orderId: new Promise((r) => (resolveId = r)), walletUrl: bank });
  check(opened[0].url === "about:blank", "blank popup while the order is created");
  resolveId(unpaidId);
  await tick(50);
  check(opened[0].popup.location.href === bank + "/#/pay/" + unpaidId, "popup sent to the order");
  message(opened[0].popup, bankOrigin, { type: "ecash-cancelled", order_id: unpaidId });
  const c = await later;
  check(c.status === "cancelled" && c.orderId === unpaidId, "cancelled by the wallet");

  // Closing the popup without paying: the bank is asked, then "cancelled".
  opened = [];
  const closing = EC.pay({ orderId: unpaidId, walletUrl: bank });
  opened[0].popup.closed = true;
  const cc = await closing;
  check(cc.status === "cancelled", "closing the popup cancels");

  // Closing the popup after the wallet paid (its message lost): paid.
  opened = [];
  const lost = EC.pay({ orderId: paidId, walletUrl: bank });
  opened[0].popup.closed = true;
  const lr = await lost;
  check(lr.status === "paid" && lr.signatureChecked, "a payment whose message was lost is still found");

  // Refusals.
  nextPopup = () => null;
  await rejects(EC.pay({ orderId: paidId, walletUrl: bank }), "POPUP_BLOCKED", "a blocked popup is reported");
  nextPopup = () => ({ closed: false, location: { href: "" }, close() { this.closed = true; } });
  await rejects(EC.pay({ orderId: "../x", walletUrl: bank }), "BAD_ORDER_ID", "a malformed order id is refused");
  opened = [];
  const failing = EC.pay({ orderId: Promise.reject(new Error("shop down")), walletUrl: bank });
  await failing.then(
    () => check(false, "a failed order creation rejects"),
    (e) => check(e.message === "shop down" && opened[0].popup.closed, "a failed order creation rejects and closes the popup")
  );
  console.log("checkout.js: all checks passed");
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
