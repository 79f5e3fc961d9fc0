// The management pages (issue 14, items 3 and 7), in a real browser against `moon serve --demo`:
// an admin sets a target and imports targets from a CSV file with the report of rejected lines,
// sets a product-line target and deletes it after confirming,
// moves an agent to another team from a date, keeps the holiday list, a notification rule and a
// webhook; a manager reads their branch's targets without the forms; every page passes axe for
// each role that may open it, and the targets page fits a phone. Runs after rough-edges.test.mjs,
// which enrolled the manager's MFA (console.test.mjs the admin's) and left the secrets in the
// downloads folder.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { axeViolations, launch, signedIn } from "./support.mjs";

const BASE = process.env.MOON_E2E_URL;
const SHOTS = process.env.MOON_E2E_SCREENSHOTS;
const DOWNLOADS = process.env.MOON_E2E_DOWNLOADS;
assert.ok(BASE && DOWNLOADS, "run the tests through e2e/run.sh");

const WIDE = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };
const PAGES = { admin: ["/targets", "/calendar", "/rules", "/webhooks"], manager: ["/targets", "/calendar"] };

let browser;
const sessions = {}; // role -> signed-in browser context

before(async () => {
  browser = await launch();
  for (const role of ["admin", "manager", "agent", "analyst"]) sessions[role] = await signedIn(browser, role, WIDE);
});

after(async () => {
  await browser?.close();
});

/** The label of the month after this one, as the console writes periods ("2027-01"). */
function nextMonth() {
  const d = new Date();
  const n = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
  return n.toISOString().slice(0, 7);
}

test("an admin sets a target, then imports targets from a CSV file with a report", async () => {
  const page = await sessions.admin.newPage();
  await page.goto("/home");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Targets", exact: true }).click();
  await page.waitForURL(/\/targets$/);
  const period = nextMonth();

  await page.locator("#f-scope_kind").selectOption("agent");
  await page.getByLabel("Agent, team, branch or region code").fill("AGT001");
  await page.locator("#f-period").fill(period);
  await page.getByLabel("Amount (LKR)").fill("123,456");
  await page.getByRole("button", { name: "Set target" }).click();
  await page.waitForURL(new RegExp(`/targets\\?period=${period}$`));
  assert.match(await page.locator("p.notice").innerText(), new RegExp(`Target for AGT001 in ${period} set to 123,456\\.00 LKR`));
  const row = page.locator("#targets-table tbody tr", { hasText: "AGT001" });
  assert.match(await row.innerText(), /123,456\.00/);

  // A file with one bad line: all or nothing imports nothing and says which line and why.
  const csv = join(DOWNLOADS, "targets.csv");
  writeFileSync(
    csv,
    `scope_kind,scope_key,product,period,amount\nagent,AGT004,,${period},90000\nagent,AGT999,,${period},1000\nteam,Alpha,,${period},450000\n`,
  );
  await page.locator("#f-csv-file").setInputFiles(csv);
  await page.waitForFunction(() => document.querySelector("#f-csv").value.includes("AGT999"));
  await page.getByLabel("Import nothing (all or nothing)").check();
  await page.getByRole("button", { name: "Import" }).click();
  await page.locator("#import-report").waitFor();
  assert.match(await page.locator("#import-report-h").innerText(), /Nothing imported: 3 rows read, 0 created/);
  const rejected = await page.locator("#import-errors tbody tr").allInnerTexts();
  assert.equal(rejected.length, 1, rejected.join(" | "));
  assert.match(rejected[0], /^3\s+scope_key\s+/, "line 3, the field, and why");
  assert.equal(await page.evaluate(() => document.activeElement.id), "f-csv", "the text box has the focus");
  assert.deepEqual(await axeViolations(page), [], "targets page with an import report");
  await page.screenshot({ path: join(SHOTS, "targets-import-report.png"), fullPage: true });

  await page.getByLabel("Import the good rows").check();
  await page.getByRole("button", { name: "Import" }).click();
  await page.locator("#import-report").waitFor();
  assert.match(await page.locator("#import-report-h").innerText(), /Imported: 3 rows read, 2 created/);
  const imported = await page.request.get(`/api/v1/targets?period=${period}&scope_key=AGT004`);
  assert.equal((await imported.json()).items[0].amount, "90000.00");
  await page.close();
});

test("an admin sets a product-line target and deletes it after confirming", async () => {
  const page = await sessions.admin.newPage();
  const period = nextMonth();
  await page.goto(`/targets?period=${period}`);
  await page.locator("#f-scope_kind").selectOption("branch");
  await page.getByLabel("Agent, team, branch or region code").fill("Kandy");
  const lines = await page.locator("#f-product_line option").allInnerTexts();
  assert.ok(lines.length > 1, `the product lines are offered: ${lines.join(", ")}`);
  const line = await page.locator("#f-product_line option").nth(1).getAttribute("value");
  await page.locator("#f-product_line").selectOption(line);
  await page.getByLabel("Amount (LKR)").fill("77,000");
  await page.getByRole("button", { name: "Set target" }).click();
  await page.waitForURL(new RegExp(`/targets\\?period=${period}$`));
  const row = page.locator("#targets-table tbody tr", { hasText: "Kandy" }).filter({ hasText: line }).filter({ hasText: "77,000.00" });
  assert.equal(await row.count(), 1, "the line's target is listed");
  assert.deepEqual(await axeViolations(page), [], "targets page with delete buttons");

  // Deleting asks first: dismissed, nothing happens; accepted, the target is gone.
  const button = row.getByRole("button", { name: /^Delete target \d+$/ });
  page.once("dialog", (d) => {
    assert.match(d.message(), new RegExp(`Delete the target for branch Kandy, ${line}, ${period}\\?`));
    d.dismiss();
  });
  await button.click();
  assert.equal(await row.count(), 1, "dismissed: still there");
  page.once("dialog", (d) => d.accept());
  await button.click();
  await page.waitForURL(new RegExp(`/targets\\?period=${period}$`));
  await page.locator("p.notice").waitFor();
  assert.match(await page.locator("p.notice").innerText(), /deleted/);
  assert.equal(await row.count(), 0, "deleted");
  await page.close();
});

test("an admin moves an agent to another team from a date, today unless changed", async () => {
  const page = await sessions.admin.newPage();
  const found = await page.request.get("/api/v1/agents?agent_code=AGT010");
  const id = (await found.json()).items[0].id;
  await page.goto(`/agents/${id}`);
  const duplicates = await page.evaluate(() => {
    const ids = [...document.querySelectorAll("[id]")].map((e) => e.id);
    return ids.filter((x, i) => ids.indexOf(x) !== i);
  });
  assert.deepEqual(duplicates, [], "the edit and move forms' fields have ids of their own");
  const today = await page.locator("#m-effective_from").inputValue();
  assert.match(today, /^\d{4}-\d{2}-\d{2}$/, "the date is filled with today");
  await page.getByLabel("New team (code or name)").fill("Delta");
  await page.getByRole("button", { name: "Move", exact: true }).click();
  await page.locator("#membership-table tbody tr", { hasText: "Delta" }).waitFor();
  assert.equal(new URL(page.url()).pathname, `/agents/${id}`, "back on the agent's page");
  const history = await page.locator("#membership-table tbody tr").allInnerTexts();
  assert.ok(history.some((r) => r.includes(today) && r.includes("Delta")), history.join(" | "));
  assert.ok(history.some((r) => r.includes("Beta")), "the earlier team stays in the history");
  await page.close();
});

test("an admin keeps the holidays, a notification rule and a webhook, confirming removals", async () => {
  const page = await sessions.admin.newPage();
  page.on("dialog", (d) => d.accept());
  const year = new Date().getUTCFullYear() + 2;
  await page.goto(`/calendar?year=${year}`);
  await page.getByLabel("Date").fill(`${year}-03-03`);
  await page.getByLabel("Name").fill("Console test day");
  await page.getByRole("button", { name: "Add holiday" }).click();
  await page.waitForURL(new RegExp(`/calendar\\?year=${year}$`));
  assert.match(await page.locator("#holidays-table").innerText(), /Console test day/);
  await page.getByRole("button", { name: `Remove ${year}-03-03` }).click();
  await page.waitForURL(new RegExp(`/calendar\\?year=${year}$`));
  assert.doesNotMatch(await page.locator("#holidays-table").innerText(), /Console test day/);

  await page.goto("/rules");
  await page.locator("#f-name").fill("Browser milestones");
  await page.locator("#f-kind").selectOption("milestone");
  await page.getByLabel("Milestone amounts").fill("25,000 75,000");
  await page.getByRole("button", { name: "Add rule" }).click();
  await page.waitForURL(/\/rules$/);
  const rule = page.locator("#rules-table tbody tr", { hasText: "Browser milestones" });
  assert.match(await rule.innerText(), /25,000\.00, 75,000\.00 LKR/);
  await rule.getByRole("button", { name: "Turn off Browser milestones" }).click();
  await page.waitForURL(/\/rules$/);
  assert.match(await page.locator("#rules-table tbody tr", { hasText: "Browser milestones" }).innerText(), /Off/);

  await page.goto("/webhooks");
  await page.getByLabel("Receiver URL").fill("not a url");
  await page.getByRole("button", { name: "Add receiver" }).click();
  assert.equal(await page.evaluate(() => document.activeElement.id), "f-url", "the refused field has the focus");
  await page.getByLabel("Receiver URL").fill("https://receiver.example/moon");
  await page.getByRole("button", { name: "Add receiver" }).click();
  assert.match(await page.locator("#new-secret").innerText(), /\S{16,}/, "the generated secret, shown once");
  assert.deepEqual(await axeViolations(page), [], "webhooks page with a new secret");
  await page.goto("/webhooks");
  await page.getByRole("button", { name: "Remove https://receiver.example/moon" }).click();
  await page.waitForURL(/\/webhooks$/);
  assert.doesNotMatch(await page.locator("#webhooks-table").innerText(), /receiver\.example/);
  await page.close();
});

test("a manager reads their branch's targets and the holidays, without the forms", async () => {
  const page = await sessions.manager.newPage();
  await page.goto("/targets");
  const who = await page.locator("#targets-table tbody td:nth-child(2)").allInnerTexts();
  assert.ok(who.length > 0, "the branch has targets this month");
  assert.ok(!who.includes("AGT002") && !who.includes("Kandy"), `only Colombo's: ${who.join(", ")}`);
  assert.equal(await page.getByRole("button", { name: "Set target" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Lock period" }).count(), 0);
  for (const path of ["/rules", "/webhooks"]) {
    assert.equal((await page.goto(path)).status(), 403, path);
  }
  const agent = await sessions.agent.newPage();
  assert.equal((await agent.goto("/targets")).status(), 403);
  await agent.close();
  await page.close();
});

test("each management page passes axe for every role that may open it, and is in its navigation", async () => {
  for (const [role, paths] of Object.entries(PAGES)) {
    const page = await sessions[role].newPage();
    await page.goto("/home");
    const nav = await page.locator('nav[aria-label="Main"] a').evaluateAll((links) => links.map((a) => a.getAttribute("href")));
    for (const path of paths) {
      assert.ok(nav.includes(path), `${role}: ${path} in the navigation`);
      assert.equal((await page.goto(path)).status(), 200, `${role} ${path}`);
      assert.deepEqual(await axeViolations(page), [], `${role} ${path}`);
      if (role === "admin") await page.screenshot({ path: join(SHOTS, `manage${path.replace("/", "-")}.png`) });
    }
    await page.close();
  }
  for (const role of ["agent", "analyst"]) {
    const page = await sessions[role].newPage();
    await page.goto("/home");
    const nav = await page.locator('nav[aria-label="Main"] a').evaluateAll((links) => links.map((a) => a.getAttribute("href")));
    for (const path of PAGES.admin) assert.ok(!nav.includes(path), `${role}: no ${path} in the navigation`);
    await page.close();
  }
});

test("at phone width the targets page fits the screen and its forms stay usable", async () => {
  const page = await sessions.admin.newPage();
  await page.setViewportSize(PHONE);
  await page.goto("/targets");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  const wide = await page.evaluate(() =>
    [...document.querySelectorAll("main *")]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth && !e.closest(".table-wrap"))
      .map((e) => e.id || e.tagName)
      .slice(0, 5),
  );
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than the phone: ${wide.join(", ")}`);
  for (const id of ["#f-amount", "#f-csv", "#f-lock_period"]) {
    const box = await page.locator(id).boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width, `${id} within the screen`);
  }
  assert.deepEqual(await axeViolations(page), [], "/targets at phone width");
  await page.screenshot({ path: join(SHOTS, "targets-phone.png") });
  await page.close();
});
