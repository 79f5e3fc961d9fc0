// What the browser test files share: TOTP codes, reading grouped numbers, and axe. Not a test
// file itself (node's runner picks up *.test.mjs only).
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createRequire } from "node:module";

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
