/*
 * E-cash checkout embed, served by bank-server at /embed/checkout.js.
 *
 *   <script src="https://bank.example/embed/checkout.js"></script>
 *   EcashCheckout.pay({ orderId, walletUrl }).then(result => ...)
 *   // or: <button data-ecash-order="ORDER_ID">Pay with e-cash</button>
 *   EcashCheckout.status(orderId)          // the bank's {state, receipt, refunded}
 *   EcashCheckout.verifyReceipt(receipt)   // confirm a receipt with the bank
 *
 * pay() opens the cyberwallet in a popup at {walletUrl}/#/pay/{orderId}. The
 * wallet pays the bank and posts {type: "ecash-receipt", receipt} (or
 * {type: "ecash-cancelled", order_id}) to this window, for the order's
 * allowed_origin only. A message counts only if it comes from that popup
 * (event.source) and from the wallet's origin (event.origin). The receipt is
 * then confirmed with the bank (GET /v1/orders/{id}/status must report the
 * same receipt) and, where the browser has WebCrypto Ed25519, its signature
 * is checked against the bank's receipt key. Closing the popup without
 * paying resolves as "cancelled" (after asking the bank once more).
 *
 * A popup, not an iframe: browsers partition an iframe's storage by the top
 * site, so a wallet framed in the shop's page would not see its coins.
 *
 * Result: {status: "paid", orderId, receipt, verifiedByBank: true,
 *          signatureChecked: true|false}  or  {status: "cancelled", orderId}.
 * Errors reject with an Error whose .code is one of POPUP_BLOCKED,
 * BAD_ORDER_ID, RECEIPT_MISMATCH, BAD_RECEIPT_SIGNATURE, or the bank's code.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var scriptOrigin =
    script && script.src ? new URL(script.src, location.href).origin : location.origin;
  var ORDER_ID = /^[A-Za-z0-9_-]{1,64}$/;
  var POLL_MS = 400;

  function trimSlash(u) {
    return String(u).replace(/\/+$/, "");
  }

  function fail(code, message) {
    var e = new Error(message);
    e.code = code;
    return e;
  }

  async function fetchJson(url) {
    var r = await fetch(url, { cache: "no-store", credentials: "omit" });
    var body = await r.json().catch(function () {
      return null;
    });
    if (!r.ok) {
      throw fail(
        (body && body.code) || "HTTP_" + r.status,
        (body && body.detail) || "the bank answered " + r.status
      );
    }
    return body;
  }

  /** The bank's view of an order: {state, receipt, refunded}. */
  function status(orderId, options) {
    var bankUrl = trimSlash((options && options.bankUrl) || scriptOrigin);
    return fetchJson(bankUrl + "/v1/orders/" + encodeURIComponent(orderId) + "/status");
  }

  function b64url(s) {
    var b = atob(String(s).replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
    return out;
  }

  function be64(n, signed) {
    var b = new Uint8Array(8);
    var v = new DataView(b.buffer);
    if (signed) v.setBigInt64(0, BigInt(n));
    else v.setBigUint64(0, BigInt(n));
    return b;
  }

  /** Receipt::signed_bytes: each field as u64 big-endian length + bytes. */
  function receiptBytes(r) {
    var fields = [
      new TextEncoder().encode("ecash/v1/receipt"),
      new TextEncoder().encode(r.order_id),
      b64url(r.contract_hash),
      be64(r.amount, false),
      be64(Math.floor(Date.parse(r.paid_at) / 1000), true),
    ];
    var len = fields.reduce(function (n, f) {
      return n + 8 + f.length;
    }, 0);
    var out = new Uint8Array(len);
    var at = 0;
    fields.forEach(function (f) {
      out.set(be64(f.length, false), at);
      out.set(f, at + 8);
      at += 8 + f.length;
    });
    return out;
  }

  /** true: valid; false: invalid; null: this browser cannot check. */
  async function checkSignature(bankUrl, receipt) {
    var key;
    try {
      if (!window.crypto || !crypto.subtle) return null;
      var keys = await fetchJson(bankUrl + "/v1/keys");
      key = await crypto.subtle.importKey(
        "raw",
        b64url(keys.receipt_key),
        { name: "Ed25519" },
        false,
        ["verify"]
      );
    } catch (e) {
      return null; // no Ed25519 in this browser, or /v1/keys unreachable
    }
    try {
      return await crypto.subtle.verify(
        { name: "Ed25519" },
        key,
        b64url(receipt.bank_sig),
        receiptBytes(receipt)
      );
    } catch (e) {
      return false;
    }
  }

  function sameReceipt(a, b) {
    return (
      !!a &&
      !!b &&
      ["order_id", "contract_hash", "amount", "paid_at", "bank_sig"].every(function (k) {
        return String(a[k]) === String(b[k]);
      })
    );
  }

  /**
   * Confirms a receipt with the bank: the order's status must be paid (or
   * refunded) with this very receipt; where the browser has WebCrypto
   * Ed25519, the bank's signature is checked too. Resolves
   * {receipt, verifiedByBank: true, signatureChecked}; rejects otherwise.
   */
  async function verifyReceipt(receipt, options) {
    var bankUrl = trimSlash((options && options.bankUrl) || scriptOrigin);
    if (!receipt || typeof receipt.order_id !== "string" || !ORDER_ID.test(receipt.order_id)) {
      throw fail("RECEIPT_MISMATCH", "not a receipt");
    }
    var st = await status(receipt.order_id, { bankUrl: bankUrl });
    if (st.state !== "paid" && st.state !== "refunded") {
      throw fail("RECEIPT_MISMATCH", "the bank does not know this payment");
    }
    if (!sameReceipt(receipt, st.receipt)) {
      throw fail("RECEIPT_MISMATCH", "the receipt differs from the bank's");
    }
    var sig = await checkSignature(bankUrl, st.receipt);
    if (sig === false) {
      throw fail("BAD_RECEIPT_SIGNATURE", "the receipt's bank signature does not verify");
    }
    return { receipt: st.receipt, verifiedByBank: true, signatureChecked: sig === true };
  }

  /**
   * Pays an order through the wallet popup. Call it from a click handler
   * (browsers only allow popups then). `orderId` may be a string or a
   * Promise of one: the popup opens at once and goes to the order when the
   * id is known, so a shop can create the order and open the wallet in one
   * click.
   *
   * options: {orderId, walletUrl (default: this script's origin),
   *           bankUrl (default: this script's origin), popupFeatures}
   */
  function pay(options) {
    options = options || {};
    var walletUrl = trimSlash(options.walletUrl || scriptOrigin);
    var bankUrl = trimSlash(options.bankUrl || scriptOrigin);
    var walletOrigin = new URL(walletUrl, location.href).origin;
    var features = options.popupFeatures || "popup,width=480,height=760";
    var known = typeof options.orderId === "string";
    if (known && !ORDER_ID.test(options.orderId)) {
      return Promise.reject(fail("BAD_ORDER_ID", "not an order id"));
    }
    var popup = window.open(
      known ? walletUrl + "/#/pay/" + options.orderId : "about:blank",
      "ecash-wallet",
      features
    );
    if (!popup) {
      return Promise.reject(
        fail("POPUP_BLOCKED", "the browser blocked the wallet's window: allow popups")
      );
    }

    return new Promise(function (resolve, reject) {
      var orderId = null;
      var done = false;
      var busy = false;
      var timer = null;

      function finish(ok, value) {
        if (done) return;
        done = true;
        if (timer) clearInterval(timer);
        window.removeEventListener("message", onMessage);
        (ok ? resolve : reject)(value);
      }

      /** Confirms with the bank; `claimed` is the wallet's receipt, if any. */
      async function confirm(claimed) {
        if (busy || done) return;
        busy = true;
        try {
          if (!claimed) {
            var st = await status(orderId, { bankUrl: bankUrl });
            if (st.state !== "paid" && st.state !== "refunded") {
              return finish(true, { status: "cancelled", orderId: orderId });
            }
            claimed = st.receipt;
          }
          var v = await verifyReceipt(claimed, { bankUrl: bankUrl });
          finish(true, {
            status: "paid",
            orderId: orderId,
            receipt: v.receipt,
            verifiedByBank: true,
            signatureChecked: v.signatureChecked,
          });
        } catch (e) {
          finish(false, e);
        } finally {
          busy = false;
        }
      }

      function onMessage(event) {
        // Only our popup, only from the wallet's origin.
        if (event.source !== popup || event.origin !== walletOrigin) return;
        var d = event.data;
        if (!d || typeof d !== "object" || orderId === null) return;
        if (d.type === "ecash-cancelled" && d.order_id === orderId) {
          finish(true, { status: "cancelled", orderId: orderId });
        } else if (d.type === "ecash-receipt" && d.receipt && d.receipt.order_id === orderId) {
          confirm(d.receipt);
        }
      }

      window.addEventListener("message", onMessage);
      Promise.resolve(options.orderId)
        .then(function (id) {
          if (done) return;
          if (typeof id !== "string" || !ORDER_ID.test(id)) {
            throw fail("BAD_ORDER_ID", "not an order id");
          }
          orderId = id;
          if (!known) {
            if (popup.closed) return confirm(null);
            popup.location.href = walletUrl + "/#/pay/" + id;
          }
          // Closing the popup without a receipt: ask the bank, then cancelled.
          timer = setInterval(function () {
            if (popup.closed && !busy) {
              clearInterval(timer);
              timer = null;
              confirm(null);
            }
          }, POLL_MS);
        })
        .catch(function (e) {
          try {
            popup.close();
          } catch (_) {
            /* already gone */
          }
          finish(false, e);
        });
    });
  }

  /** Wires every `[data-ecash-order]` element under `root` to pay(). */
  function bind(root) {
    (root || document).querySelectorAll("[data-ecash-order]").forEach(function (el) {
      if (el.dataset.ecashBound) return;
      el.dataset.ecashBound = "1";
      el.addEventListener("click", function (ev) {
        ev.preventDefault();
        pay({
          orderId: el.getAttribute("data-ecash-order"),
          walletUrl: el.getAttribute("data-ecash-wallet") || undefined,
          bankUrl: el.getAttribute("data-ecash-bank") || undefined,
        }).then(
          function (r) {
            el.dispatchEvent(new CustomEvent("ecash:done", { detail: r, bubbles: true }));
          },
          function (e) {
            el.dispatchEvent(new CustomEvent("ecash:error", { detail: e, bubbles: true }));
          }
        );
      });
    });
  }

  window.EcashCheckout = {
    pay: pay,
    status: status,
    verifyReceipt: verifyReceipt,
    bind: bind,
    version: 1,
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      bind();
    });
  } else {
    bind();
  }
})();
