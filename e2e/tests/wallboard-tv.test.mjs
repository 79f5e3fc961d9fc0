// A branch's TV with a read-only wallboard token (issue 14 leftovers), in a real browser against
// `moon serve --demo`: an admin issues the token on /organisation and gets its one-time link; a
// browser that nobody signed in on opens the link, lands on the branch's wallboard without the
// token in its address, holds an HttpOnly, SameSite=Strict cookie, follows a sale as it lands,
// and reaches no other page or branch; the link works once, and revoking it (after a
// confirmation) switches the screen off. axe finds nothing. Runs after rough-edges.test.mjs and
// console.test.mjs, which enrolled the admin's and manager's MFA.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { axeViolations, launch, signedIn } from "./support.mjs";

const BASE = process.env.MOON_E2E_URL;
const SHOTS = process.env.MOON_E2E_SCREENSHOTS;
const DOWNLOADS = process.env.MOON_E2E_DOWNLOADS;
assert.ok(BASE && DOWNLOADS, "run the tests through e2e/run.sh");

const WIDE = { width: 1440, height: 900 };
const TV = { width: 1920, height: 1080 };

let browser;
let admin;

before(async () => {
  browser = await launch();
  admin = await signedIn(browser, "admin", WIDE);
});

after(async () => {
  await browser?.close();
});

/** A browser context nobody signed in on, as a TV's. */
async function screen() {
  const ctx = await browser.newContext({ baseURL: BASE, viewport: TV, bypassCSP: true });
  ctx.setDefaultTimeout(10_000);
  return ctx;
}

test("a TV opens the branch's wallboard by its one-time link, and nothing else", async () => {
  const page = await admin.newPage();
  page.on("dialog", (d) => d.accept());
  await page.goto("/organisation");
  await page.locator("#wb-name").fill("Colombo lobby TV");
  await page.locator("#wb-branch").fill("Colombo");
  await page.getByRole("button", { name: "Issue token" }).click();
  const shown = (await page.locator("#new-screen-link").innerText()).trim();
  assert.match(shown, /^http:\/\/127\.0\.0\.1:\d+\/wallboard\/tv\?token=moonwb_\S+$/, shown);
  assert.deepEqual(await axeViolations(page), [], "organisation page with a new wallboard link");
  const link = new URL(shown);

  const tv = await screen();
  const wall = await tv.newPage();
  await wall.goto(link.pathname + link.search);
  await wall.waitForURL(/\/wallboard\?branch=Colombo$/);
  assert.ok(!wall.url().includes("token"), `the token left the address bar: ${wall.url()}`);
  assert.match(await wall.locator("h1").innerText(), /Branch Colombo/);
  const cookies = await tv.cookies();
  const cookie = cookies.find((c) => c.name === "moon_wallboard");
  assert.ok(cookie, JSON.stringify(cookies));
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  assert.ok(!cookies.some((c) => c.name.includes("session")), "no one's session on the TV");
  assert.equal(await wall.getByRole("link", { name: "Leave the wallboard" }).count(), 0);
  assert.deepEqual(await axeViolations(wall), [], "wallboard on a TV");

  // A sale recorded elsewhere appears on the TV without a reload (its live stream is open).
  await wall.evaluate(() => { window.__notReloaded = true; });
  await page.goto("/home");
  const csrf = await page.locator('meta[name="csrf-token"]').getAttribute("content");
  const products = await (await page.request.get("/api/v1/products?limit=1")).json();
  const today = (await (await page.request.get("/api/v1/calendar")).json()).today;
  const sold = await page.request.post("/api/v1/sales", {
    headers: { "X-CSRF-Token": csrf },
    data: { agent_code: "AGT001", product_id: products.items[0].id, amount: "2468.00", sale_date: today },
  });
  assert.equal(sold.status(), 201, await sold.text());
  await wall.waitForFunction(
    () => /2,468\.00/.test(document.querySelector("#ticker li.newest")?.textContent || ""),
    null,
    { timeout: 10_000 },
  );
  assert.equal(await wall.evaluate(() => window.__notReloaded), true, "the page was not reloaded");
  await wall.screenshot({ path: join(SHOTS, "wallboard-tv.png") });

  // Nothing else: another branch, another page, the API.
  const probe = await tv.newPage();
  for (const path of ["/wallboard?branch=Kandy", "/home", "/sales", "/dashboard", "/api/v1/agents"]) {
    assert.equal((await probe.goto(path)).status(), 403, path);
  }
  await probe.close();

  // The link works once.
  const other = await screen();
  const again = await other.newPage();
  assert.equal((await again.goto(link.pathname + link.search)).status(), 403);
  await other.close();

  // Revoked (after a confirmation): the TV is off at its next request.
  await page.goto("/organisation");
  await page.getByRole("button", { name: "Revoke Colombo lobby TV" }).click();
  await page.waitForURL(/\/organisation$/);
  assert.match(await page.locator("#screens-table").innerText(), /Revoked/);
  await wall.goto("/wallboard");
  await wall.waitForURL(/\/sign-in/);
  await tv.close();
  await page.close();
});
