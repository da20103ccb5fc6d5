// End-to-end test of the cyberwallet and the demo shop in a real browser.
//
// Playwright (playwright-core, no bundled browser) drives Debian's Chromium
// against a running bank-server that serves the wallet at `/` and the demo
// shop at `/shop`. scripts/test-e2e.sh builds both, starts the server and runs
// this file with:
//
//   E2E_BANK_URL     e.g. http://127.0.0.1:41234 (no trailing slash needed)
//   E2E_ADMIN_TOKEN  the server's BANK_ADMIN_TOKEN (for POST /v1/admin/credit)
//   E2E_ARTIFACTS    optional: where screenshots go (default: ./artifacts)
//
// The scenario runs as ordered steps; once a step fails, the rest are skipped
// (they depend on it), and every open page is screenshotted as failure-*.png.
// Every wait is bounded; nothing sleeps for a fixed time.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { chromium } from 'playwright-core';

const BANK = (process.env.E2E_BANK_URL || '').replace(/\/+$/, '');
const ADMIN_TOKEN = process.env.E2E_ADMIN_TOKEN || '';
const ARTIFACTS =
  process.env.E2E_ARTIFACTS || fileURLToPath(new URL('./artifacts', import.meta.url));

const WAIT = 30_000; // any single wait for the page
const STEP = 90_000; // one step
const SUITE = 300_000; // the whole scenario

const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const WITHDRAW_MINOR = 2000; // 20.00 EUR
const CREDIT_MINOR = 5000; // 50.00 EUR
const SEND_MINOR = 500; // 5.00 EUR
const ITEM = 'coffee';

/** `12.05 EUR` for 1205, as the wallet and the shop show amounts. */
const eur = (minor) => `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, '0')} EUR`;

// ---------------------------------------------------------------------------
// Browser plumbing

const profiles = []; // { name, dir, context }
const pageErrors = []; // uncaught exceptions in any page
const consoleLines = [];
let shotNo = 0;

async function openProfile(name) {
  const dir = await mkdtemp(join(tmpdir(), `ecash-e2e-${name}-`));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1000, height: 800 },
    timeout: WAIT,
  });
  context.setDefaultTimeout(WAIT);
  context.setDefaultNavigationTimeout(WAIT);
  const watch = (page) => {
    page.on('pageerror', (e) => pageErrors.push(`[${name}] ${page.url()}: ${e.message}`));
    page.on('console', (m) => consoleLines.push(`[${name}] ${m.type()} ${page.url()}: ${m.text()}`));
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  profiles.push({ name, dir, context });
  return context;
}

/** The first tab of a fresh profile (a persistent context opens with one). */
async function firstPage(context) {
  return context.pages()[0] ?? (await context.newPage());
}

/** Saves `NN-label.png` of `page` (full page). */
async function shot(page, label) {
  shotNo += 1;
  const file = join(ARTIFACTS, `${String(shotNo).padStart(2, '0')}-${label}.png`);
  await page.screenshot({ path: file, fullPage: true, timeout: WAIT });
  return file;
}

// ---------------------------------------------------------------------------
// Waiting with readable failures

async function currentText(page, selector) {
  const loc = page.locator(selector).first();
  if ((await loc.count()) === 0) return '(absent)';
  return JSON.stringify(((await loc.textContent({ timeout: 1000 })) ?? '').trim());
}

/** Waits until `selector` shows `expected` (substring, or RegExp). */
async function expectText(page, selector, expected) {
  try {
    await page.locator(selector, { hasText: expected }).first().waitFor({ timeout: WAIT });
  } catch (e) {
    const err = await currentText(page, '#error');
    assert.fail(
      `${selector}: expected text ${expected}, got ${await currentText(page, selector)}` +
        (err !== '(absent)' ? `; #error says ${err}` : '') +
        ` (${e.message.split('\n')[0]})`,
    );
  }
}

/** Waits until `selector` carries `attr="value"`. */
async function expectAttr(page, selector, attr, value) {
  try {
    await page.locator(`${selector}[${attr}="${value}"]`).first().waitFor({ timeout: WAIT });
  } catch (e) {
    const loc = page.locator(selector).first();
    const actual = (await loc.count()) ? await loc.getAttribute(attr, { timeout: 1000 }) : '(absent)';
    const err = await currentText(page, '#error');
    assert.fail(
      `${selector}: expected ${attr}="${value}", got ${JSON.stringify(actual)}` +
        (err !== '(absent)' ? `; #error says ${err}` : '') +
        ` (${e.message.split('\n')[0]})`,
    );
  }
}

/** Waits until the form field `selector` holds `value`. */
async function expectValue(page, selector, value) {
  try {
    await page.waitForFunction(
      ([sel, v]) => document.querySelector(sel)?.value === v,
      [selector, value],
      { timeout: WAIT },
    );
  } catch (e) {
    const actual = await page.inputValue(selector, { timeout: 1000 }).catch(() => '(absent)');
    assert.fail(`${selector}: expected value ${JSON.stringify(value)}, got ${JSON.stringify(actual)}`);
  }
}

/**
 * Waits for the outcome of a wallet operation: `success` appears (and the
 * operation has finished: no `#busy`), or `#error` appears, which fails.
 */
async function expectOutcome(page, success) {
  const outcome = page.locator(`${success}, #error`).first();
  await outcome.waitFor({ timeout: WAIT });
  if (await page.locator('#error').count()) {
    assert.fail(`expected ${success}, the wallet says: ${await currentText(page, '#error')}`);
  }
  await page.locator('#busy').waitFor({ state: 'detached', timeout: WAIT });
}

/** The wallet's balance in minor units, once its storage has been read. */
async function walletBalance(page) {
  const el = page.locator('#balance');
  await el.waitFor({ timeout: WAIT });
  return Number(await el.getAttribute('data-minor'));
}

/**
 * Waits until a freshly loaded wallet page has settled: storage read, the
 * bank balance fetched if logged in, and the start-up "finishing pending
 * operations" run over (else a click can race it: see the report).
 */
async function settled(page) {
  await page.locator('#balance').waitFor({ timeout: WAIT });
  if (await page.locator('#user').count()) {
    await page.locator('#bank-balance.figure').waitFor({ timeout: WAIT });
  }
  await page.locator('#busy').waitFor({ state: 'detached', timeout: WAIT });
}

/** Goes to a wallet page through its navigation link. */
async function nav(page, id, heading) {
  await page.click(`#${id}`);
  await page.locator(`#${heading}`).waitFor({ state: 'attached', timeout: WAIT });
}

async function adminCredit(username, amount) {
  const r = await fetch(`${BANK}/v1/admin/credit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ username, amount }),
    signal: AbortSignal.timeout(WAIT),
  });
  const body = await r.text();
  assert.equal(r.status, 200, `admin credit answered ${r.status}: ${body}`);
  return JSON.parse(body);
}

// ---------------------------------------------------------------------------
// The scenario

describe('cyberwallet and demo shop in Chromium', { timeout: SUITE }, () => {
  const user = `e2e-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const password = randomBytes(12).toString('base64url');
  let a; // profile A: the buyer and sender
  let wallet; // A's wallet tab
  let shop; // A's shop tab
  let b; // profile B: the recipient
  let walletB;
  let price; // of ITEM, minor units, as the shop lists it
  let token;
  let expectedA = 0; // A's wallet balance from here on

  // Each step runs only if all earlier ones passed (a step that timed out
  // never clears `broken`).
  let broken = null;
  const step = (name, fn) =>
    it(name, { timeout: STEP }, async (t) => {
      if (broken) return t.skip(`earlier step failed: ${broken}`);
      broken = name;
      await fn(t);
      broken = null;
    });

  before(async () => {
    assert.ok(BANK, 'E2E_BANK_URL is not set (scripts/test-e2e.sh sets it)');
    assert.ok(ADMIN_TOKEN, 'E2E_ADMIN_TOKEN is not set (scripts/test-e2e.sh sets it)');
    await rm(ARTIFACTS, { recursive: true, force: true });
    await mkdir(ARTIFACTS, { recursive: true });
  });

  after(async () => {
    if (broken) {
      let n = 0;
      for (const p of profiles) {
        for (const page of p.context.pages()) {
          n += 1;
          await page
            .screenshot({ path: join(ARTIFACTS, `failure-${p.name}-${n}.png`), fullPage: true, timeout: 10_000 })
            .catch(() => {});
        }
      }
    }
    await writeFile(join(ARTIFACTS, 'console.log'), consoleLines.join('\n') + '\n').catch(() => {});
    for (const p of profiles) {
      await Promise.race([p.context.close(), new Promise((r) => setTimeout(r, 10_000).unref())]).catch(() => {});
      await rm(p.dir, { recursive: true, force: true }).catch(() => {});
    }
  });

  step('A: the wallet opens with an empty purse', async () => {
    a = await openProfile('A');
    wallet = await firstPage(a);
    await wallet.goto(`${BANK}/`);
    await settled(wallet);
    await expectAttr(wallet, '#balance', 'data-minor', '0');
    await wallet.locator('#no-coins').waitFor();
    await wallet.locator('#nav-login').waitFor();
    await expectText(wallet, '#bank-url-shown', BANK);
    await shot(wallet, 'a-wallet-empty');
  });

  step('A: registers a new user', async () => {
    await wallet.click('#nav-login');
    await wallet.locator('#login-title').waitFor();
    await expectValue(wallet, '#bank-url', BANK);
    await wallet.fill('#username', user);
    await wallet.fill('#password', password);
    await shot(wallet, 'a-register-form');
    await wallet.click('#register');
    await expectOutcome(wallet, '#notice');
    await expectText(wallet, '#notice', `Welcome, ${user}`);
    await expectText(wallet, '#user', user);
    await expectText(wallet, '#bank-balance', eur(0));
    await shot(wallet, 'a-registered');
  });

  step('A: the bank wires money in; the wallet shows the bank balance', async () => {
    const r = await adminCredit(user, CREDIT_MINOR);
    assert.equal(r.balance, CREDIT_MINOR);
    // Each wallet page fetches the bank balance when it opens.
    await nav(wallet, 'nav-withdraw', 'withdraw-title');
    await expectText(wallet, 'main', `Bank balance: ${eur(CREDIT_MINOR)}`);
    await nav(wallet, 'nav-home', 'home-title');
    await expectText(wallet, '#bank-balance', eur(CREDIT_MINOR));
    await shot(wallet, 'a-bank-credited');
  });

  step(`A: withdraws ${eur(WITHDRAW_MINOR)} into the wallet`, async () => {
    await nav(wallet, 'nav-withdraw', 'withdraw-title');
    await wallet.fill('#withdraw-amount', (WITHDRAW_MINOR / 100).toFixed(2));
    await wallet.click('#withdraw-submit');
    await expectOutcome(wallet, '#notice');
    await expectText(wallet, '#notice', `Withdrew ${eur(WITHDRAW_MINOR)}`);
    await shot(wallet, 'a-withdrawn');
    await nav(wallet, 'nav-home', 'home-title');
    expectedA = WITHDRAW_MINOR;
    await expectAttr(wallet, '#balance', 'data-minor', String(expectedA));
    await expectText(wallet, '#balance', eur(expectedA));
    await expectText(wallet, '#bank-balance', eur(CREDIT_MINOR - WITHDRAW_MINOR));
    // The coins table adds up to the balance.
    const rows = await wallet.locator('#coins tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [Number(tr.dataset.value), Number(tr.cells[1].firstChild.textContent)]),
    );
    assert.ok(rows.length > 0, 'no coin rows');
    assert.equal(rows.reduce((s, [v, n]) => s + v * n, 0), expectedA, `coins: ${JSON.stringify(rows)}`);
    await shot(wallet, 'a-wallet-coins');
  });

  step('A: buys a coffee at the demo shop through the wallet popup', async () => {
    shop = await a.newPage();
    await shop.goto(`${BANK}/shop`);
    await expectAttr(shop, '#shop-status', 'data-state', 'idle');
    price = Number(await shop.locator(`[data-item="${ITEM}"]`).getAttribute('data-price'));
    assert.ok(price > 0 && price <= expectedA, `price ${price}`);
    await shot(shop, 'shop');

    const popupOpened = shop.waitForEvent('popup', { timeout: WAIT });
    await shop.click(`#buy-${ITEM}`);
    const popup = await popupOpened;
    popup.setDefaultTimeout(WAIT);
    await expectAttr(shop, '#shop-status', 'data-state', 'waiting');

    // The popup shows the contract; pay it.
    await popup.locator('#contract').waitFor();
    assert.ok(popup.url().startsWith(`${BANK}/#/pay/`), popup.url());
    await expectText(popup, '#contract-merchant', 'Demo Shop');
    await expectText(popup, '#contract-summary', 'Coffee');
    await expectAttr(popup, '#contract-amount', 'data-minor', String(price));
    const orderId = await popup.locator('#contract').getAttribute('data-order-id');
    await expectText(shop, '#shop-pay-uri', orderId);
    await popup.locator('#busy').waitFor({ state: 'detached' });
    await shot(popup, 'popup-contract');
    await popup.click('#pay-confirm');
    await expectOutcome(popup, '#receipt');
    await expectAttr(popup, '#receipt', 'data-order-id', orderId);
    await expectText(popup, '#receipt-amount', eur(price));
    await expectText(popup, '#receipt', 'The receipt was sent to the shop');
    await shot(popup, 'popup-receipt');

    // The shop got the receipt and had the bank confirm it.
    await expectAttr(shop, '#shop-status', 'data-state', 'paid');
    await shop.locator('#shop-receipt').waitFor({ state: 'visible' });
    await expectText(shop, '#shop-receipt-order', orderId);
    await expectText(shop, '#shop-receipt-amount', eur(price));
    await expectText(shop, '#shop-receipt-verified', 'verified by the bank');
    await shot(shop, 'shop-paid');

    // "Close window" closes the popup.
    const closed = popup.waitForEvent('close', { timeout: WAIT });
    // The click closes the page it acts on; Playwright may report that as
    // "target closed" before the click settles. Only a page still open is a failure.
    await popup.click('#close-window').catch((e) => {
      if (!popup.isClosed()) throw e;
    });
    await closed;
    await expectAttr(shop, '#shop-status', 'data-state', 'paid');
  });

  step('A: the wallet balance dropped by the price; history shows the payment', async () => {
    // The wallet tab does not notice what the popup did until it reloads.
    await wallet.bringToFront();
    await wallet.reload();
    await settled(wallet);
    expectedA -= price;
    await expectAttr(wallet, '#balance', 'data-minor', String(expectedA));
    await expectText(wallet, '#balance', eur(expectedA));
    await shot(wallet, 'a-wallet-after-payment');

    await nav(wallet, 'nav-history', 'history-title');
    const payment = wallet.locator('#history li[data-kind="Payment"]');
    await payment.first().waitFor();
    assert.equal(await payment.count(), 1);
    await expectText(wallet, '#history li[data-kind="Payment"] .amount', `\u2212${eur(price)}`);
    await expectText(wallet, '#history li[data-kind="Payment"] .entry-meta', `balance ${eur(expectedA)}`);
    await expectText(wallet, '#history li[data-kind="Withdrawal"] .amount', `+${eur(WITHDRAW_MINOR)}`);
    await wallet.locator('#history-chart').waitFor();
    await payment.locator('summary').click();
    await expectText(wallet, '#history li[data-kind="Payment"] details[open]', 'Demo Shop');
    await shot(wallet, 'a-history');
  });

  step(`A: sends ${eur(SEND_MINOR)} as a token`, async () => {
    await nav(wallet, 'nav-send', 'send-title');
    await wallet.fill('#send-amount', (SEND_MINOR / 100).toFixed(2));
    await wallet.click('#send-submit');
    await expectOutcome(wallet, '#token');
    await expectText(wallet, '#notice', `${eur(SEND_MINOR)} is in the token below`);
    token = await wallet.inputValue('#token');
    assert.match(token, /^ecash:/, 'token');
    await wallet.locator('#token-qr').waitFor();
    await expectText(wallet, '#sent-list', eur(SEND_MINOR));
    await shot(wallet, 'a-token');
    await nav(wallet, 'nav-home', 'home-title');
    expectedA -= SEND_MINOR;
    await expectAttr(wallet, '#balance', 'data-minor', String(expectedA));
    await shot(wallet, 'a-after-send');
  });

  step('B: a second profile, not logged in, receives the token', async () => {
    b = await openProfile('B');
    walletB = await firstPage(b);
    await walletB.goto(`${BANK}/`);
    await settled(walletB);
    await expectAttr(walletB, '#balance', 'data-minor', '0');
    await walletB.locator('#nav-login').waitFor(); // no account in this profile
    await nav(walletB, 'nav-receive', 'receive-title');
    await walletB.fill('#receive-token', token);
    await shot(walletB, 'b-receive-form');
    await walletB.click('#receive-submit');
    await expectOutcome(walletB, '#receive-result');
    await expectText(walletB, '#receive-result', `+${eur(SEND_MINOR)}`);
    await expectText(walletB, '#notice', `Received ${eur(SEND_MINOR)}`);
    await shot(walletB, 'b-received');
    await nav(walletB, 'nav-home', 'home-title');
    await expectAttr(walletB, '#balance', 'data-minor', String(SEND_MINOR));
    await shot(walletB, 'b-wallet');
    await nav(walletB, 'nav-history', 'history-title');
    await expectText(walletB, '#history li[data-kind="Received"] .amount', `+${eur(SEND_MINOR)}`);
    assert.equal(await walletB.locator('#history li').count(), 1);
  });

  step('A: the balance stays lower by what was sent', async () => {
    await wallet.bringToFront();
    await wallet.reload();
    await settled(wallet);
    await expectAttr(wallet, '#balance', 'data-minor', String(expectedA));
    assert.equal(expectedA, WITHDRAW_MINOR - price - SEND_MINOR);
    await shot(wallet, 'a-after-b-received');
  });

  step('B: receiving the same token again fails and changes nothing', async () => {
    await walletB.bringToFront();
    await nav(walletB, 'nav-receive', 'receive-title');
    await walletB.fill('#receive-token', token);
    await walletB.click('#receive-submit');
    await walletB.locator('#error').waitFor();
    await expectText(walletB, '#error', /already|spent/i);
    await walletB.locator('#busy').waitFor({ state: 'detached' });
    await shot(walletB, 'b-receive-again-error');
    await nav(walletB, 'nav-home', 'home-title');
    await expectAttr(walletB, '#balance', 'data-minor', String(SEND_MINOR));
    await expectAttr(walletB, '#pending-amount', 'data-minor', '0');
    await walletB.locator('#pending-empty').waitFor();
    await shot(walletB, 'b-wallet-unchanged');
    await nav(walletB, 'nav-history', 'history-title');
    await walletB.locator('#history li').first().waitFor();
    assert.equal(await walletB.locator('#history li').count(), 1, 'history grew');
  });

  // Runs even after a failed step: an uncaught page error often explains it.
  it('no uncaught errors in any page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
