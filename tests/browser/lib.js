/*
 * lib.js: what the browser tests share (browse.js, docs.js, dupes.js): the
 * checks' output ("ok NAME" / "FAIL NAME: why"), the server's address and
 * token from SHELF_URL, the API read and written from outside the page,
 * screenshots into SHELF_ARTIFACTS and moving the focus by Tab.
 */
'use strict';

const path = require('path');

const url = new URL(process.env.SHELF_URL);
const t = {
    url,
    token: url.searchParams.get('token'),
    base: url.origin,
    failed: 0,
};

t.ok = (name) => {
    console.log(`ok   ${name}`);
};
t.fail = (name, why) => {
    t.failed++;
    console.error(`FAIL ${name}: ${why}`);
};
t.check = (name, cond, why) => {
    if (cond)
        t.ok(name);
    else
        t.fail(name, why);
};

/* GET the API from outside the page, with the token header. */
t.apiGet = async (p) => {
    const r = await fetch(t.base + p, { headers: { 'X-Shelf-Token': t.token } });
    if (!r.ok)
        throw new Error(`GET ${p}: ${r.status}`);
    return r.json();
};

/*
 * Debian's chromium, headless (never a downloaded browser), with one page
 * of the given viewport; run(page), a throw counted as a failed check with
 * a screenshot; then the check that the page logged no script error or
 * CSP violation (a console error that expected(text, url) does not claim), and
 * the browser closed.
 */
t.session = async (viewport, run, expected) => {
    /* the index is built in the background: searches until it is taken are SQL's */
    for (let i = 0; i < 1200 && (await t.apiGet('/api/session')).index.building; i++)
        await new Promise((r) => setTimeout(r, 50));
    const { chromium } = require(path.join(process.env.SHELF_SRC, 'tests/servers/node_modules/playwright-core'));
    if (process.env.SHELF_ARTIFACTS)
        require('fs').mkdirSync(process.env.SHELF_ARTIFACTS, { recursive: true });
    const browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'],
    });
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
        /* a failed load names its address, so that a failure says which */
        if (m.type() === 'error' && !(expected && expected(m.text(), m.location().url)))
            errors.push(m.location().url ? `${m.text()} (${m.location().url})` : m.text());
    });
    try {
        await run(page);
    } catch (e) {
        t.fail('the browser session', e.stack || e.message);
        await t.shot(page, 'failure').catch(() => {});
    }
    t.check('no script errors or CSP violations', errors.length === 0, errors.join(' | '));
    await browser.close();
};

/* POST the API from outside the page, as another client would. */
t.apiPost = async (p, body) => {
    const r = await fetch(t.base + p, {
        method: 'POST',
        headers: { 'X-Shelf-Token': t.token, Origin: t.base, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
};

/* A screenshot NAME.png in SHELF_ARTIFACTS (the whole page with full). */
t.shot = async (page, name, full) => {
    if (process.env.SHELF_ARTIFACTS)
        await page.screenshot({ path: path.join(process.env.SHELF_ARTIFACTS, `${name}.png`), fullPage: !!full });
};

/* Press Tab until the element matching sel has the focus (at most n times). */
t.tabTo = async (page, sel, n) => {
    for (let i = 0; i < (n || 80); i++) {
        if (await page.evaluate((s) => document.activeElement && document.activeElement.matches(s), sel))
            return true;
        await page.keyboard.press('Tab');
    }
    return false;
};

module.exports = t;
