/*
 * browse.js: the browser test of `shelf serve`, run by tests/cli/test_serve_browser.sh.
 *
 * Drives Debian's chromium (never a downloaded browser) headless with
 * playwright-core from tests/servers/node_modules.  The shell script made the
 * library and started the server; this script gets its address in SHELF_URL
 * and writes screenshots to SHELF_ARTIFACTS.  Prints "ok NAME" or
 * "FAIL NAME: why" per check and exits 1 when any check failed.
 */
'use strict';

const path = require('path');

const T = require('./lib.js');
const { ok, fail, check, apiGet, shot, token, base, url } = T;
const oddName = process.env.SHELF_ODD_NAME;

/* The result names the page shows, in order. */
function shownNames(page) {
    return page.$$eval('#rows .row .name', (els) => els.map((e) => e.textContent));
}

/* Wait until the page has answered query q (and painted it). */
async function answered(page, q) {
    try {
        await page.waitForFunction((want) => document.body.dataset.q === want, q, { timeout: 10000 });
    } catch (e) {
        const st = await page.evaluate(() => [document.body.dataset.q, document.getElementById('q').value,
                                               document.getElementById('status').textContent]);
        throw new Error(`waiting for the answer to ${JSON.stringify(q)}: the page shows ${JSON.stringify(st)}`);
    }
}

async function main() {
    /* The one request that must fail is the bad query's (400). */
    await T.session({ width: 1200, height: 700 }, run, (text) => /status of 400/.test(text));
}

async function run(page) {
    /* The token in the address becomes a cookie and leaves the address bar. */
    const resp = await page.goto(url.href);
    check('the token address lands on the page', resp.ok(), `status ${resp.status()}`);
    check('the token leaves the address bar', !page.url().includes('token='), page.url());
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });
    await answered(page, '');
    const all = await apiGet('/api/search?q=&limit=1000');
    const count = await page.$eval('#count', (e) => e.dataset.total);
    check('every sample is listed at start', Number(count) === all.total, `page ${count}, api ${all.total}`);

    /* Type-ahead; the answer to "k" is held back so that it arrives after
     * the answer to "kick": the page must drop it. */
    let heldBack = false;
    await page.route((u) => u.pathname === '/api/search' && u.searchParams.get('q') === 'k', async (route) => {
        heldBack = true;
        await new Promise((r) => setTimeout(r, 800));
        await route.continue().catch(() => {});
    });
    await page.focus('#q');
    await page.keyboard.type('kick', { delay: 40 });
    await answered(page, 'kick');
    await page.waitForTimeout(1200);            /* the late answer to "k" has come and gone */
    const kicks = await apiGet('/api/search?q=kick');
    const names = await shownNames(page);
    check('the late answer to an older query was held back', heldBack, 'the route never ran');
    check('type-ahead shows the answer to the last keystroke',
          names.length === kicks.total && names.every((n) => /kick/i.test(n)) &&
          (await page.$eval('body', (b) => b.dataset.q)) === 'kick',
          `shown ${JSON.stringify(names)}, api total ${kicks.total}`);
    const countText = await page.$eval('#count', (e) => e.textContent);
    check('the result count is shown', countText.startsWith(`${kicks.total} `), countText);
    await page.unroute('**/*');
    await shot(page, 'type-ahead');

    /* Keyboard: down from the search box selects the first result and plays it. */
    check('the first key opened the audio output (a silent audio context, running)',
          (await page.$eval('body', (b) => b.dataset.audioWarm)) === 'running',
          `data-audio-warm ${await page.$eval('body', (b) => b.dataset.audioWarm)}`);
    await page.keyboard.press('ArrowDown');
    await page.waitForSelector('body[data-playing]', { timeout: 10000 });
    const first = kicks.items[0];
    let playing = await page.$eval('body', (b) => b.dataset.playing);
    check('arrow down auditions the first result', Number(playing) === first.id, `playing ${playing}, first ${first.id}`);
    await page.waitForFunction(() => {
        const p = document.getElementById('player');
        return !p.paused && p.currentTime > 0.05;
    }, null, { timeout: 10000 });
    ok('the audio element plays (currentTime advances)');
    await page.waitForSelector('body[data-audio-warm="closed"]', { timeout: 10000 });
    ok('the silent audio context closed once the player played');
    check('the detail view shows the selection',
          (await page.$eval('#detail h1', (e) => e.textContent)) === first.name, 'wrong name');

    await page.keyboard.press('ArrowDown');
    const second = kicks.items[1];
    await page.waitForFunction((id) => document.body.dataset.playing === String(id), second.id, { timeout: 10000 });
    ok('arrow down again moves and plays the next one');
    const selIndex = await page.$eval('#rows .row.sel', (e) => e.dataset.index);
    check('the selected row follows', selIndex === '1', `selected ${selIndex}`);

    await page.keyboard.press(' ');
    await page.waitForFunction(() => document.getElementById('player').paused, null, { timeout: 5000 });
    ok('space stops');
    await page.keyboard.press(' ');
    await page.waitForFunction(() => !document.getElementById('player').paused, null, { timeout: 5000 });
    ok('space plays again');

    /* Edits by key; the API sees them. */
    await page.keyboard.press('5');
    await page.waitForSelector('#rating[data-rating="5"]', { timeout: 5000 });
    let got = await apiGet(`/api/samples/${second.id}`);
    check('5 rates the sample 5', got.rating === 5, `rating ${got.rating}`);
    await page.waitForSelector('#facet-list .facet[data-facet="rating"] .value[data-filter="rating:5"]', { timeout: 5000 });
    ok('the rating facet counts the new rating');
    await page.keyboard.press('f');
    await page.waitForSelector('#fav[aria-pressed="true"]', { timeout: 5000 });
    got = await apiGet(`/api/samples/${second.id}`);
    check('f makes it a favourite', got.favourite === true, `favourite ${got.favourite}`);
    await page.keyboard.press('t');
    check('t focuses the tag field', await page.$eval('#tag-input', (e) => e === document.activeElement), 'not focused');
    await page.keyboard.type('crunchy');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => [...document.querySelectorAll('#tags .tag')].some((t) => t.textContent.startsWith('crunchy')),
                               null, { timeout: 5000 });
    const tagged = await apiGet('/api/search?q=tag:crunchy');
    check('t adds a tag the next search finds', tagged.total === 1 && tagged.items[0].id === second.id,
          JSON.stringify(tagged.items.map((i) => i.id)));
    await page.click('#tags .tag button[aria-label="remove tag crunchy"]');
    await page.waitForFunction(() => ![...document.querySelectorAll('#tags .tag')].some((t) => t.textContent.startsWith('crunchy')),
                               null, { timeout: 5000 });
    check('the tag chip removes the tag', (await apiGet('/api/search?q=tag:crunchy')).total === 0, 'still tagged');
    await shot(page, 'edited');

    /* Help. */
    await page.keyboard.press('?');
    check('? shows the keys', await page.$eval('#help', (e) => !e.hidden), 'hidden');
    await page.keyboard.press('Escape');
    check('Esc closes them', await page.$eval('#help', (e) => e.hidden), 'still shown');

    /* Status: the button shows the worst alert; its view lists each alert
     * with what to do, as GET /api/status (and `shelf status`) says. */
    await page.waitForFunction(() => document.body.dataset.alerts !== undefined, null, { timeout: 5000 });
    const st = await apiGet('/api/status');
    check('the status button shows the worst alert',
          (await page.$eval('#alerts-button', (b) => b.dataset.worst)) === st.worst && st.worst === 'info',
          `page ${await page.$eval('#alerts-button', (b) => b.dataset.worst)}, api ${st.worst}`);
    await page.click('#alerts-button');
    await page.waitForSelector('#alert-list li[data-key="samples-missing"]', { timeout: 5000 });
    const line = await page.$eval('#alert-list li[data-key="samples-missing"]', (e) => e.textContent);
    check('the status view lists the missing sample with what to do',
          /1 of 7 samples are missing/.test(line) && line.includes('shelf ls --missing'), line);
    check('the status view says whether the daemon runs',
          (await page.$eval('#daemon-line', (e) => e.textContent)).startsWith('No daemon runs'), 'no daemon line');
    await shot(page, 'status');
    await page.keyboard.press('Escape');
    check('Esc closes the status view', await page.$eval('#alerts', (e) => e.hidden), 'still shown');

    /* / goes back to the search box; a bad query says where it is wrong. */
    await page.keyboard.press('/');
    check('/ focuses the search box', await page.$eval('#q', (e) => e === document.activeElement), 'not focused');
    await page.keyboard.type(' (');
    await page.waitForSelector('#q.bad', { timeout: 5000 });
    const status = await page.$eval('#status', (e) => e.textContent);
    check('a bad query is shown as one line with its column', /column \d+/.test(status), status);

    /* A name with accents, CJK and emoji round-trips to the page. */
    if (oddName) {
        await page.fill('#q', '');
        await page.keyboard.type('tag:odd');
        await answered(page, 'tag:odd');
        const odd = await shownNames(page);
        check('an odd file name is shown as it is', odd.length === 1 && odd[0] === oddName,
              `${JSON.stringify(odd)} vs ${JSON.stringify(oddName)}`);
        await page.keyboard.press('ArrowDown');
        await page.waitForFunction(() => !document.getElementById('player').paused &&
                                   document.getElementById('player').currentTime > 0.02, null, { timeout: 10000 });
        ok('a sample with an odd name plays');
        /* Click in the waveform: playback starts from there. */
        await page.waitForFunction(() => document.getElementById('wave') !== null);
        const box = await page.$eval('#wave', (c) => { const r = c.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; });
        await page.mouse.click(box[0] + box[2] * 0.75, box[1] + box[3] / 2);
        const at = await page.$eval('#player', (p) => p.currentTime / p.duration);
        check('a click in the waveform plays from there', at > 0.6 && at < 0.95, `at ${at}`);
        await shot(page, 'odd-name');
    }

    /* Facets: a value narrows the results to its count, combined with the
     * text; its chip and x take it away again. */
    await page.focus('#q');
    await page.fill('#q', '');
    await page.keyboard.type('kick');
    await answered(page, 'kick');
    const value = '#facet-list .facet[data-facet="tag"] .value[data-filter="tag:punchy"]';
    /* the facets of this query (they follow its results) */
    await page.waitForFunction(() => document.body.dataset.facetsGen === document.body.dataset.gen, null,
                               { timeout: 10000 });
    await page.waitForSelector(value, { timeout: 10000 });
    const want = Number(await page.$eval(`${value} .n`, (e) => e.textContent.replace(/,/g, '')));
    await page.click(value);
    await answered(page, '(kick) tag:punchy');
    const narrowed = await shownNames(page);
    const viaApi = await apiGet('/api/search?q=' + encodeURIComponent('(kick) tag:punchy'));
    check('a facet value narrows the results to its count',
          want > 0 && narrowed.length === want && viaApi.total === want, `facet ${want}, shown ${narrowed.length}, api ${viaApi.total}`);
    check('the chosen value shows as a chip', (await page.$$('#active .chip[data-filter="tag:punchy"]')).length === 1, 'no chip');
    await shot(page, 'facets');
    await page.keyboard.press('Escape');            /* back to the list */
    await page.keyboard.press('x');
    await answered(page, 'kick');
    check('x clears the filters', (await page.$$('#active .chip')).length === 0, 'chip left');

    /* Collections (saved searches too) narrow like facet values; a search
     * the user moved into is remembered, across a reload. */
    const kicks3 = await page.$eval('#collections .value[data-filter="in:kicks"] .n', (e) => e.textContent).catch(() => '');
    check('a saved search is listed with its count', kicks3 === String(kicks.total), `'${kicks3}'`);
    await page.fill('#q', '');
    await answered(page, '');
    await page.click('#collections .value[data-filter=\'in:"my set"\']');
    await answered(page, 'in:"my set"');
    const mine = await shownNames(page);
    check('a collection narrows to its samples', mine.length === 1 && mine[0] === 'Snare Tight', JSON.stringify(mine));
    await page.click('#collections .value[data-filter=\'in:"my set"\']');
    await answered(page, '');
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });
    const again = '#recent .value[data-text="kick"]';
    const listed = await page.waitForSelector(again, { timeout: 5000 }).then(() => true, () => false);
    check('a search moved into is remembered across a reload', listed && (await page.$$(again)).length === 1, 'not listed');
    await page.click(again);
    await answered(page, 'kick');
    check('a recent search runs again', (await page.$eval('#q', (e) => e.value)) === 'kick', 'not in the box');
    await shot(page, 'collections');

    /* Bulk: Shift+arrows mark as they move, Ctrl-click marks one more,
     * t tags every marked sample ("-word" takes a tag away), Esc unmarks. */
    await page.focus('#q');
    await page.fill('#q', '');
    await page.keyboard.type('kick OR snare OR pad');      /* five samples, none missing */
    await answered(page, 'kick OR snare OR pad');
    await page.click('#rows .row[data-index="0"]');
    await page.keyboard.press('Shift+ArrowDown');
    await page.keyboard.press('Shift+ArrowDown');
    check('Shift+arrows mark the rows they pass', (await page.$$('#rows .row.marked')).length === 3,
          `${(await page.$$('#rows .row.marked')).length} marked`);
    await page.click('#rows .row[data-index="4"]', { modifiers: ['Control'] });
    const markedIds = await page.$$eval('#rows .row.marked', (els) => els.map((e) => Number(e.dataset.id)).sort());
    check('Ctrl-click marks one more', markedIds.length === 4, JSON.stringify(markedIds));
    check('the bar says how many', (await page.$eval('#bulk-count', (e) => e.textContent)) === '4 marked' &&
          !(await page.$eval('#bulk', (e) => e.hidden)), await page.$eval('#bulk-count', (e) => e.textContent));
    await page.keyboard.press('t');
    check('t goes to the bulk tag box', await page.evaluate(() => document.activeElement.id === 'bulk-input'), 'focus elsewhere');
    await page.keyboard.type('bulkdone live');
    await page.keyboard.press('Enter');
    let bulkTagged = { total: 0, items: [] };
    for (let k = 0; k < 50 && bulkTagged.total !== 4; k++) {
        await page.waitForTimeout(100);
        bulkTagged = await apiGet('/api/search?q=' + encodeURIComponent('tag:bulkdone tag:live'));
    }
    check('every marked sample is tagged (and no other)', bulkTagged.total === 4 &&
          JSON.stringify(bulkTagged.items.map((it) => it.id).sort()) === JSON.stringify(markedIds), JSON.stringify(bulkTagged));
    await page.waitForFunction(() => document.querySelectorAll('#rows .row .tags').length > 0 &&
                               [...document.querySelectorAll('#rows .row.marked .tags')].every((e) => e.textContent.includes('bulkdone')),
                               null, { timeout: 5000 }).then(() => ok('the rows show the new tags'),
                                                             () => fail('the rows show the new tags', 'not redrawn'));
    await shot(page, 'bulk');
    await page.keyboard.press('t');
    await page.keyboard.type('-live');
    await page.keyboard.press('Enter');
    let left = { total: -1 };
    for (let k = 0; k < 50 && left.total !== 0; k++) {
        await page.waitForTimeout(100);
        left = await apiGet('/api/search?q=' + encodeURIComponent('tag:live'));
    }
    const kept = await apiGet('/api/search?q=' + encodeURIComponent('tag:bulkdone'));
    check('-word takes a tag from every marked sample', left.total === 0 && kept.total === 4, `${left.total} ${kept.total}`);
    await page.keyboard.press('Escape');
    check('Esc unmarks all', (await page.$$('#rows .row.marked')).length === 0 && await page.$eval('#bulk', (e) => e.hidden),
          'still marked');

    /* Save the search shown (text and a facet value) from the page: s, a
     * name, Enter; it is listed with the collections and narrows alike. */
    await page.keyboard.press('s');
    check('s goes to the name box', await page.evaluate(() => document.activeElement.id === 'save-name'), 'focus elsewhere');
    await page.keyboard.type('drums é 🥁');
    await page.keyboard.press('Enter');
    const savedSel = '#collections .value[data-filter=\'in:"drums é 🥁"\']';
    const listedSaved = await page.waitForSelector(savedSel, { timeout: 5000 }).then(() => true, () => false);
    check('the saved search is listed at once', listedSaved, 'not listed');
    const cols = await apiGet('/api/collections');
    const mine2 = cols.find((c) => c.name === 'drums é 🥁');
    check('it holds the query shown', mine2 && mine2.query === 'kick OR snare OR pad' && mine2.count === 5,
          JSON.stringify(mine2));
}

main().then(() => process.exit(T.failed ? 1 : 0), (e) => {
    console.error(`FAIL ${e.stack || e.message}`);
    process.exit(1);
});
