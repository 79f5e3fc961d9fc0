// What the browser test files share: TOTP codes, reading grouped numbers, and axe. Not a test
// file itself (node's runner picks up *.test.mjs only).
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

/** RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret for a time step. */
export function totp(secretBase32, step) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secretBase32.replace(/=+$/, "").toUpperCase()) {
    const v = alphabet.indexOf(c);
    assert.ok(v >= 0, `not base32: ${c}`);
    bits += v.toString(2).padStart(5, "0");
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, "0");
}

/** The current TOTP time step. */
export const stepNow = () => Math.floor(Date.now() / 30_000);

/** A figure as the console shows it ("1,620,433" or "1,234.50") as a number. */
export const number = (shown) => Number(String(shown).replace(/,/g, ""));

const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

/**
 * The axe-core violations of the page as it stands (WCAG 2.x A and AA rules and best practices),
 * each as "rule-id: target, target", so a failure names what to fix.
 */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) {
    await page.addScriptTag({ path: AXE });
  }
  const result = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ["violations"] }),
  );
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

// A TOTP code is accepted once: every sign-in of a test file waits for a step later than any
// used before (each test file runs in a process of its own, with its own count).
let lastStep = stepNow();

/** A code of `secret` from a time step no sign-in of this file has used yet. */
export async function freshCode(secret) {
  while (stepNow() <= lastStep) await new Promise((r) => setTimeout(r, 500));
  lastStep = stepNow();
  return totp(secret, lastStep);
}

/** Debian's chromium, headless, as every test file drives it. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.MOON_E2E_CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
}

/**
 * A browser context signed in as the demo user of `role`, landed on its home. Admins and
 * managers answer the code step with the secret an earlier test file enrolled and left in the
 * downloads folder (console.test.mjs the admin's, rough-edges.test.mjs the manager's).
 */
export async function signedIn(browser, role, viewport) {
  const passwords = JSON.parse(process.env.MOON_E2E_PASSWORDS || "{}");
  // bypassCSP: the console's policy allows no inline script, and axe is injected as one.
  const ctx = await browser.newContext({ baseURL: process.env.MOON_E2E_URL, viewport, bypassCSP: true });
  ctx.setDefaultTimeout(10_000);
  const page = await ctx.newPage();
  await page.goto("/sign-in");
  await page.getByLabel("User name").fill(`demo-${role}`);
  await page.getByLabel("Password").fill(passwords[`demo-${role}`]);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForLoadState("load");
  const secretFile = join(process.env.MOON_E2E_DOWNLOADS || "", `${role}-mfa-secret`);
  if (role === "admin" || role === "manager") {
    assert.ok(existsSync(secretFile), `an earlier test file enrolled the ${role}`);
    await page.waitForURL(/\/sign-in\/mfa/);
    await page.locator("#f-code").fill(await freshCode(readFileSync(secretFile, "utf8").trim()));
    await page.getByRole("button", { name: "Verify" }).click();
  }
  // Signing in lands on the role's home.
  await page.waitForURL(/\/home$/);
  await page.close();
  return ctx;
}
