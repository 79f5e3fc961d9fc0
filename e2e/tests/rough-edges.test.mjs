// The console's rough edges (issue 14, item 6), each as a new user met it, in a real browser
// against `moon serve --demo`: numbers, forms, the sales list, admin pages, phone width, and axe
// on every page for every role. Runs after console.test.mjs, which enrolled the admin's MFA and
// left its secret in the downloads folder.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { axeViolations, number, stepNow, totp } from "./support.mjs";

const BASE = process.env.MOON_E2E_URL;
const PASSWORDS = JSON.parse(process.env.MOON_E2E_PASSWORDS || "{}");
const SHOTS = process.env.MOON_E2E_SCREENSHOTS;
const DOWNLOADS = process.env.MOON_E2E_DOWNLOADS;
assert.ok(BASE && DOWNLOADS, "run the tests through e2e/run.sh");

const WIDE = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };

let browser;
let admin; // the admin's context, signed in with a TOTP code
let manager; // the manager's, enrolled here
let agent;
let analyst;
// Every code used so far is from a step before this one; each sign-in here takes a later step.
let lastStep = stepNow();

async function freshCode(secret) {
  while (stepNow() <= lastStep) await new Promise((r) => setTimeout(r, 500));
  lastStep = stepNow();
  return totp(secret, lastStep);
}

async function context(viewport = WIDE) {
  // bypassCSP: the console's policy allows no inline script, and axe is injected as one.
  const ctx = await browser.newContext({ baseURL: BASE, viewport, bypassCSP: true });
  ctx.setDefaultTimeout(10_000);
  return ctx;
}

async function signIn(ctx, username) {
  const page = await ctx.newPage();
  await page.goto("/sign-in");
  await page.getByLabel("User name").fill(username);
  await page.getByLabel("Password").fill(PASSWORDS[username]);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForLoadState("load");
  return page;
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.MOON_E2E_CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  const secretFile = join(DOWNLOADS, "admin-mfa-secret");
  assert.ok(existsSync(secretFile), "console.test.mjs enrols the admin first");
  admin = await context();
  const a = await signIn(admin, "demo-admin");
  await a.waitForURL(/\/sign-in\/mfa/);
  await a.locator("#f-code").fill(await freshCode(readFileSync(secretFile, "utf8").trim()));
  await a.getByRole("button", { name: "Verify" }).click();
  await a.waitForURL(/\/home/);
  await a.close();
  // The manager's role requires MFA too: enrol now, as a new manager would.
  manager = await context();
  const m = await signIn(manager, "demo-manager");
  await m.waitForURL(/\/account\/mfa$/);
  await m.getByRole("button", { name: "Set up an authenticator" }).click();
  const secret = (await m.locator("#mfa-secret").innerText()).trim();
  // wallboard-and-homes.test.mjs, which runs after this file, signs the manager in again.
  writeFileSync(join(DOWNLOADS, "manager-mfa-secret"), secret);
  await m.locator("#f-code").fill(totp(secret, stepNow()));
  await m.getByRole("button", { name: "Confirm" }).click();
  await m.locator("#recovery-codes li").first().waitFor();
  await m.close();
  agent = await context();
  await (await signIn(agent, "demo-agent")).close();
  analyst = await context();
  await (await signIn(analyst, "demo-analyst")).close();
});

after(async () => {
  await browser?.close();
});

test("a manager's dashboard opens on this month for their branch", async () => {
  const page = await manager.newPage();
  await page.goto("/dashboard");
  assert.equal(await page.getByRole("link", { name: "This month" }).getAttribute("aria-current"), "true");
  assert.equal(await page.locator("#f-branch").inputValue(), "Colombo");
  assert.deepEqual(await page.locator("#t-branches tbody td:first-child").allInnerTexts(), ["Colombo"]);
  const first = new Date().toISOString().slice(0, 8) + "01";
  assert.equal(await page.locator("#f-from").inputValue(), first, "from the first of the month");
  // "All branches" is still one choice away, and the choice sticks in the URL.
  await page.locator("#f-branch").selectOption("");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.waitForURL(/branch=&|branch=$/);
  assert.ok((await page.locator("#t-branches tbody tr").count()) > 1, "every branch");
  await page.close();
});

test("amounts carry the currency and thousands separators, and the total card stays on one line", async () => {
  const page = await admin.newPage();
  await page.goto("/dashboard?range=all");
  assert.match(await page.locator(".card", { has: page.locator("#kpi-total") }).innerText(), /Total sales \(LKR\)/);
  const total = (await page.locator("#kpi-total").innerText()).trim();
  assert.match(total, /^\d{1,3}(,\d{3})+\.\d\d$/, total);
  const lines = await page.locator("#kpi-total").evaluate((el) => {
    const s = getComputedStyle(el);
    return el.getBoundingClientRect().height / parseFloat(s.lineHeight === "normal" ? s.fontSize * 1.2 : s.lineHeight);
  });
  assert.ok(lines < 1.5, `the total takes ${lines.toFixed(2)} lines at 1440 px`);
  assert.ok(await page.locator("#kpi-total").evaluate((el) => el.scrollWidth <= el.clientWidth + 1), "and is not clipped");
  for (const id of ["t-branches", "t-products", "t-leaderboard"]) {
    assert.match(await page.locator(`#${id} thead`).innerText(), /\(LKR\)/, `${id} names the currency`);
    const amounts = await page.locator(`#${id} tbody td.num[data-value*="."]`).allInnerTexts();
    assert.ok(amounts.length > 0);
    for (const a of amounts) assert.match(a, /^-?\d{1,3}(,\d{3})*\.\d\d$/, `${id}: ${a}`);
  }
  // The running month is labelled as such on a monthly trend, not left to look like a crash.
  await page.goto("/dashboard?range=year&bucket=month");
  const periods = await page.locator("#t-trend tbody td:first-child").allInnerTexts();
  assert.match(periods.at(-1), /^\d{4}-\d{2} \(month to date\)$/, periods.join());
  assert.equal(periods.filter((p) => /to date/.test(p)).length, 1);
  // A daily trend has every day, sales or not: no line joins two days that are not neighbours.
  await page.goto("/dashboard?range=month&bucket=day");
  const days = await page.locator("#t-trend tbody td:first-child").evaluateAll((cells) => cells.map((c) => c.getAttribute("data-value")));
  const today = new Date().toISOString().slice(0, 10);
  assert.equal(days.length, Number(today.slice(8, 10)), days.join());
  // Times are labelled with the business time zone.
  await page.goto("/audit");
  assert.match(await page.locator("#audit-table thead").innerText(), /When \(UTC\)/);
  await page.close();
});

test("a refused form focuses its first error, in words people use; 25,000 is an amount", async () => {
  const page = await admin.newPage();
  await page.setViewportSize({ width: 1280, height: 600 });
  await page.goto("/agents");
  await page.getByLabel("Agent code").fill("AGT950");
  await page.getByLabel("First name").fill("Ruwan");
  await page.getByRole("button", { name: "Add agent" }).click();
  await page.waitForLoadState("load");
  await page.waitForFunction(() => document.activeElement?.getAttribute("aria-invalid") === "true");
  const focused = await page.evaluate(() => document.activeElement.id);
  assert.equal(focused, "f-last_name", "the first field in error has the focus");
  assert.ok(await page.locator("#f-last_name").evaluate((el) => {
    const r = el.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= window.innerHeight;
  }), "and is on screen");
  assert.equal(await page.locator("#f-last_name-error").innerText(), "Last name is required");
  assert.match(await page.locator(".alert").innerText(), /Last name is required/);
  await page.screenshot({ path: join(SHOTS, "form-error-focused.png") });

  await page.goto("/sales");
  await page.locator("#f-agent_code").fill("AGT001");
  await page.locator("#f-product_id").selectOption({ index: 1 });
  await page.getByLabel(/^Amount/).fill("25,000");
  await page.getByRole("button", { name: "Record sale" }).click();
  await page.waitForLoadState("load");
  assert.match(await page.locator(".notice").innerText(), /recorded: 25000\.00 by AGT001/);

  // A target too, in the products table.
  await page.goto("/products");
  const target = page.locator("#products-table tbody tr").first().locator('input[name="target_amount"]');
  const before = await target.inputValue();
  await target.fill("1,250,000");
  await target.locator("xpath=..").getByRole("button", { name: "Save" }).click();
  await page.waitForLoadState("load");
  assert.match(await page.locator(".notice").innerText(), /is now 1250000\.00/);
  await page.locator("#products-table tbody tr").first().locator('input[name="target_amount"]').fill(before);
  await page.locator("#products-table tbody tr").first().getByRole("button", { name: "Save" }).click();
  await page.waitForLoadState("load");
  await page.close();
});

test("the agent picker searches every agent, with no cap and no select", async () => {
  const page = await admin.newPage();
  await page.goto("/sales");
  const picker = page.locator("#f-agent_code");
  assert.equal(await picker.evaluate((el) => el.tagName), "INPUT");
  const listed = await page.locator("#agent-choices option").count();
  const api = await (await admin.request.get("/api/v1/agents?active=true&limit=500")).json();
  assert.ok(listed >= api.items.length, `${listed} agents offered, the API lists ${api.items.length}`);
  assert.match(await page.locator('#agent-choices option[value="AGT001"]').innerText(), /\w+ \w+/, "with the name");
  await page.close();
});

test("an agent records their own sale without picking themselves", async () => {
  const page = await agent.newPage();
  await page.goto("/sales");
  assert.equal(await page.locator("#f-agent_code").count(), 0, "no picker");
  assert.match(await page.locator("#f-agent_code-shown").innerText(), /\(AGT001\)$/);
  await page.locator("#f-product_id").selectOption({ index: 1 });
  await page.getByLabel(/^Amount/).fill("1,250.50");
  await page.getByRole("button", { name: "Record sale" }).click();
  await page.waitForLoadState("load");
  assert.match(await page.locator(".notice").innerText(), /recorded: 1250\.50 by AGT001/);
  await page.close();
});

test("the sales list searches by policy number, counts, totals, numbers its pages, newest first, with names", async () => {
  const page = await admin.newPage();
  await page.goto("/sales");
  const summary = await page.locator("#sales-summary").innerText();
  const [, count, pages] = summary.match(/^([\d,]+) sales, total LKR [\d,]+\.\d\d · page 1 of ([\d,]+)$/) || [];
  assert.ok(count, summary);
  assert.equal(number(pages), Math.ceil(number(count) / 25));
  const dates = await page.locator("#sales-table tbody tr td:nth-child(2)").allInnerTexts();
  assert.deepEqual(dates, [...dates].sort().reverse(), "newest first");
  assert.match(await page.locator("#sales-table tbody tr:first-child td:nth-child(3)").innerText(), /^AGT\d+ \S+ \S+/);
  await page.getByRole("link", { name: "Page 2 »" }).click();
  await page.waitForURL(/page=2/);
  assert.match(await page.locator(".pager").innerText(), /Page 2 of/);
  // A policy number finds its sale.
  const res = await admin.request.get("/api/v1/sales?limit=100");
  const withPolicy = (await res.json()).items.find((s) => s.policy_number);
  assert.ok(withPolicy, "the demo has sales with policy numbers");
  await page.locator("#q-policy_number").fill(withPolicy.policy_number);
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/policy_number=/);
  assert.equal(await page.locator("#sales-table tbody tr").count(), 1);
  assert.match(await page.locator("#sales-summary").innerText(), /^1 sale, total LKR /);
  await page.screenshot({ path: join(SHOTS, "sales-search.png") });
  await page.close();
});

test("admin pages ask before destroying, default to least privilege, and name people", async () => {
  const page = await admin.newPage();
  await page.goto("/users");
  assert.equal(await page.locator("#f-role").inputValue(), "agent", "a new user is an agent unless chosen");
  const analystRow = page.locator("#users-table tbody tr", { hasText: "demo-analyst" });
  let asked = "";
  page.once("dialog", (d) => { asked = d.message(); d.dismiss(); });
  await analystRow.getByRole("button", { name: "Disable" }).click();
  assert.match(asked, /Disable demo-analyst\?/);
  assert.match(await analystRow.innerText(), /Enabled/, "a no sends nothing");

  await page.goto("/tokens");
  await page.getByLabel("What it is for").fill("reporting laptop");
  await page.getByRole("button", { name: "Create token" }).click();
  await page.waitForLoadState("load");
  assert.equal(await page.getByRole("button", { name: "Copy" }).isVisible(), true, "the secret has a copy button");
  const row = page.locator("#tokens-table tbody tr", { hasText: "reporting laptop" });
  const cells = await row.locator("td").allInnerTexts();
  assert.equal(cells[1], "demo-admin", "the owner by name");
  const expires = new Date(cells[5].slice(0, 10));
  const days = Math.round((expires - new Date(new Date().toISOString().slice(0, 10))) / 86_400_000);
  assert.ok(days >= 89 && days <= 91, `expires in ${days} days`);
  await page.screenshot({ path: join(SHOTS, "tokens-created.png") });
  page.once("dialog", (d) => d.accept());
  await row.getByRole("button", { name: "Revoke" }).click();
  await page.waitForLoadState("load");
  assert.match(await row.innerText(), /Revoked/);

  await page.goto("/audit?user=demo-admin");
  const actors = await page.locator("#audit-table tbody td:nth-child(3)").allInnerTexts();
  assert.ok(actors.length > 0 && actors.every((a) => a === "demo-admin"), actors.join());
  await page.goto("/audit?entity=sale");
  const link = page.locator("#audit-table tbody td:nth-child(6) a", { hasText: /^sale \d+$/ }).first();
  const href = await link.getAttribute("href");
  assert.match(href, /^\/sales\/\d+$/);
  await page.locator("#audit-table tbody tr").first().getByRole("link", { name: /History of sale/ }).click();
  await page.waitForURL(/entity_id=\d+/);
  assert.ok((await page.locator("#audit-table tbody tr").count()) >= 1);
  await page.screenshot({ path: join(SHOTS, "audit-filtered.png") });
  await page.close();
});

test("at phone width the key figures come first and charts and tables stay readable", async () => {
  const ctx = await context(PHONE);
  await ctx.addCookies(await admin.cookies());
  const page = await ctx.newPage();
  await page.goto("/dashboard?range=all");
  const top = (sel) => page.locator(sel).evaluate((el) => el.getBoundingClientRect().top);
  assert.ok((await top("section.kpis")) < (await top("#period-h")), "cards above the period picker");
  assert.ok((await top("#kpi-total")) < PHONE.height, "the total is on the first screen");
  const smallest = await page.evaluate(() => {
    let min = Infinity;
    for (const svg of document.querySelectorAll("figure.chart svg")) {
      const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
      for (const t of svg.querySelectorAll("text")) min = Math.min(min, parseFloat(t.getAttribute("font-size")) * scale);
    }
    return min;
  });
  assert.ok(smallest >= 11, `chart text is at least 11 px (smallest ${smallest.toFixed(1)})`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page fits the phone (overflow ${overflow}px)`);
  const unreachable = await page.evaluate(() =>
    Array.from(document.querySelectorAll(".table-wrap, .chart-scroll"))
      .filter((el) => el.scrollWidth > el.clientWidth + 1 && el.getAttribute("tabindex") !== "0")
      .map((el) => el.querySelector("table, svg")?.id || el.className),
  );
  assert.deepEqual(unreachable, [], "a table or chart wider than the phone scrolls, by keyboard too");
  await page.screenshot({ path: join(SHOTS, "dashboard-phone-cards-first.png") });
  await ctx.close();
});

test("axe finds no violations on any page, for any role", async () => {
  const anonymous = await context();
  const signInPage = await anonymous.newPage();
  await signInPage.goto("/sign-in");
  assert.deepEqual(await axeViolations(signInPage), [], "/sign-in");
  await anonymous.close();
  for (const [role, ctx] of [["admin", admin], ["manager", manager], ["agent", agent], ["analyst", analyst]]) {
    const page = await ctx.newPage();
    await page.goto("/dashboard");
    const nav = await page.locator('nav[aria-label="Main"] a').evaluateAll((links) => links.map((a) => a.getAttribute("href")));
    assert.ok(nav.length >= 3, `${role} has a navigation`);
    const paths = [...nav, "/account/mfa"];
    // Detail pages reached from the lists.
    if (role === "admin") {
      const sale = await page.request.get("/api/v1/sales?limit=1");
      paths.push(`/sales/${(await sale.json()).items[0].id}`);
      const ag = await page.request.get("/api/v1/agents?limit=1");
      paths.push(`/agents/${(await ag.json()).items[0].id}`);
    }
    for (const path of paths) {
      const res = await page.goto(path);
      assert.equal(res.status(), 200, `${role} ${path}`);
      assert.deepEqual(await axeViolations(page), [], `${role} ${path}`);
    }
    await page.setViewportSize(PHONE);
    await page.goto("/dashboard");
    assert.deepEqual(await axeViolations(page), [], `${role} /dashboard at phone width`);
    await page.close();
  }
});
