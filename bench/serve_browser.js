/*
 * serve_browser.js: the browser side of bench/bench_serve.sh (a benchmark,
 * not a test).  In Debian's chromium, headless, driven by playwright-core
 * (tests/servers/node_modules), against a running `shelf serve`:
 *
 *  - api: every keystroke bench_search replays (its --csv file) as GET
 *    /api/search (first page of 60, as the page asks) from Node on a
 *    kept-alive connection, before the browser starts: time to the first
 *    byte and to the whole answer;
 *  - keys: the same keystrokes typed
 *    into the search box one character at a time; for each, the time from
 *    the keydown to the results painted (measured in the page: the answer
 *    marks body[data-gen], then a frame and a task later the frame is on
 *    screen), the next key typed once it is;
 *  - audio: 30 clicks on result rows (samples with real files, found by
 *    SHELF_AUDIO_QUERY) to the <audio> element's "playing";
 *  - edits: a tag added (POST) and the next search for it (GET tag:...)
 *    finding the sample: the time of that search.
 *
 * Environment: SHELF_URL (the address with the token), SHELF_KEYS (the
 * CSV), SHELF_AUDIO_QUERY, SHELF_SRC; SHELF_BENCH_RAW, a file to write
 * every measurement to (in the order taken) for a closer look.  Prints one
 * JSON object.
 */
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const { chromium } = require(path.join(process.env.SHELF_SRC, 'tests/servers/node_modules/playwright-core'));

const url = new URL(process.env.SHELF_URL);
const token = url.searchParams.get('token');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/* bench_search's CSV: the typed sequences, each the list of its prefixes. */
function sequences(file) {
    const seqs = new Map();
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
        if (!line)
            continue;
        const q = line.indexOf('"');
        const seq = Number(line.slice(0, line.indexOf(',')));
        const text = line.slice(q + 1, line.length - 1).replace(/""/g, '"');
        if (!seqs.has(seq))
            seqs.set(seq, []);
        seqs.get(seq).push(text);
    }
    return [...seqs.values()];
}

function pct(a, p) {
    if (!a.length)
        return null;
    const s = a.slice().sort((x, y) => x - y);
    return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

function summary(a) {
    return { n: a.length, p50: pct(a, 50), p95: pct(a, 95), p99: pct(a, 99), max: pct(a, 100) };
}

/* GET path: [ms to the first byte, ms to the end, parsed body]. */
function get(p, method, body) {
    return new Promise((resolve, reject) => {
        const t0 = process.hrtime.bigint();
        let ttfb = 0;
        const req = http.request({ host: url.hostname, port: url.port, path: p, method: method || 'GET', agent,
                                   headers: Object.assign({ 'X-Shelf-Token': token },
                                                          body ? { Origin: url.origin, 'Content-Type': 'application/json' } : {}) },
        (res) => {
            ttfb = Number(process.hrtime.bigint() - t0) / 1e6;
            const parts = [];
            res.on('data', (d) => parts.push(d));
            res.on('end', () => {
                const all = Number(process.hrtime.bigint() - t0) / 1e6;
                let v = null;
                try {
                    v = JSON.parse(Buffer.concat(parts).toString());
                } catch (e) {
                    v = null;
                }
                resolve([ttfb, all, v, res.statusCode]);
            });
        });
        req.on('error', reject);
        req.end(body ? JSON.stringify(body) : undefined);
    });
}

async function keys(page, seqs) {
    await page.evaluate(() => {
        window.__lat = [];
        const q = document.getElementById('q');
        q.addEventListener('keydown', () => { window.__t0 = window.__measure ? performance.now() : undefined; }, true);
        new MutationObserver(() => {
            const t0 = window.__t0;
            const gen = document.body.dataset.gen;
            requestAnimationFrame(() => setTimeout(() => {
                if (t0 !== undefined)
                    window.__lat.push(performance.now() - t0);
                window.__painted = gen;
            }, 0));
        }).observe(document.body, { attributes: true, attributeFilter: ['data-gen'] });
    });
    /* the page's query generation (app.js's state.gen): the next key's answer is gen + 1 */
    const gen = () => page.evaluate(() => state.gen);      // eslint-disable-line no-undef
    const answered = (g) => page.waitForFunction((w) => window.__painted === String(w), g, { timeout: 60000 });
    let typed = 0;
    await page.evaluate(() => { window.__measure = true; });
    await page.focus('#q');
    for (const seq of seqs) {
        /* clear the box (not measured) */
        if (await page.$eval('#q', (e) => e.value !== '')) {
            const g = await gen();
            await page.evaluate(() => { window.__measure = false; });
            await page.keyboard.press('Control+A');
            await page.keyboard.press('Backspace');
            await answered(g + 1);
            await page.evaluate(() => { window.__measure = true; });
        }
        const text = seq[seq.length - 1];
        for (const ch of [...text]) {
            const g = await gen();
            await page.keyboard.type(ch);
            await answered(g + 1);
            typed++;
        }
    }
    return { typed, lat: await page.evaluate(() => window.__lat) };
}

async function audio(page, q, n) {
    await page.focus('#q');
    await page.keyboard.press('Control+A');
    await page.keyboard.type(q);
    await page.waitForFunction((w) => document.body.dataset.q === w, q, { timeout: 60000 });
    await page.evaluate(() => {
        window.__play = [];
        const p = document.getElementById('player');
        document.getElementById('list').addEventListener('mousedown', () => { window.__c0 = performance.now(); }, true);
        p.addEventListener('playing', () => {
            if (window.__c0 !== undefined)
                window.__play.push(performance.now() - window.__c0);
            window.__c0 = undefined;
        });
    });
    const rows = await page.$$eval('#rows .row', (r) => r.length);
    const done = [];
    for (let i = 0; i < Math.min(n, rows); i++) {
        const before = await page.evaluate(() => window.__play.length);
        await page.click(`#rows .row:nth-child(${i + 1})`);
        await page.waitForFunction((b) => window.__play.length > b, before, { timeout: 10000 }).catch(() => {});
        done.push(i);
    }
    return page.evaluate(() => window.__play);
}

async function edits(n) {
    const [, , res] = await get('/api/search?q=' + encodeURIComponent(process.env.SHELF_AUDIO_QUERY) + '&limit=' + n);
    const out = [];
    const stamp = Date.now().toString(36);
    for (let i = 0; i < n && i < res.items.length; i++) {
        const id = res.items[i].id;
        const tag = `edit${stamp}x${i}`;
        await get(`/api/samples/${id}/tags`, 'POST', { add: [tag] });
        const [ttfb, all, v] = await get('/api/search?q=' + encodeURIComponent(`tag:${tag}`));
        if (!v || v.total !== 1 || v.items[0].id !== id)
            throw new Error(`the search after tagging ${id} found ${JSON.stringify(v && v.items)}`);
        out.push([ttfb, all, v.ms]);
    }
    return out;
}

async function main() {
    const seqs = sequences(process.env.SHELF_KEYS);
    /* the figures are the index's: wait until the server has taken it */
    for (;;) {
        const [, , s] = await get('/api/session');
        if (!s.index.building)
            break;
        await new Promise((r) => setTimeout(r, 100));
    }
    /* The API alone first: the same keystrokes, as the page asks them.
     * Measured after chromium, they shared the machine's two cores with
     * its processes winding down, and the p99 was theirs. */
    const ttfb = [], whole = [], server = [], raw = [];
    for (const seq of seqs)
        for (const text of seq) {
            const [t, a, v] = await get('/api/search?' + new URLSearchParams({ q: text, offset: '0', limit: '60' }));
            ttfb.push(t);
            whole.push(a);
            if (v && typeof v.ms === 'number')
                server.push(v.ms);
            raw.push({ q: text, ttfb: t, whole: a, ms: v && v.ms, total: v && v.total });
        }
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
                                            args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'] });
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await page.goto(url.href);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 60000 });
    await page.waitForFunction(() => document.body.dataset.gen === String(state.gen), null,   // eslint-disable-line no-undef
                               { timeout: 60000 });
    const k = await keys(page, seqs);
    const play = await audio(page, process.env.SHELF_AUDIO_QUERY, 30);
    await browser.close();

    const ed = await edits(50);
    if (process.env.SHELF_BENCH_RAW)
        fs.writeFileSync(process.env.SHELF_BENCH_RAW, JSON.stringify({ keys: k.lat, audio: play, api: raw, edits: ed }));
    process.stdout.write(JSON.stringify({
        sequences: seqs.length, keystrokes: k.typed, csv_keystrokes: seqs.reduce((n, s) => n + s.length, 0),
        browser: summary(k.lat), api_ttfb: summary(ttfb), api_whole: summary(whole), server_ms: summary(server),
        audio: summary(play), edit_search: summary(ed.map((e) => e[1])), edit_server: summary(ed.map((e) => e[2])),
    }) + '\n');
}

main().catch((e) => {
    console.error(e.stack || e.message);
    process.exit(1);
});
